"""The uplink survives its broker: killed and restarted, the hub reconnects and delivers."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from pathlib import Path

from conftest import start_mosquitto, stop_process, write_config
from mqtt_helpers import recording
from test_e2e import running_hub

from agent.config import load_config


async def test_broker_killed_and_restarted(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path / "broker")
    config = load_config(write_config(tmp_path / "hub", broker, mode="full"))
    base = f"test/{config.hub_id}"
    try:
        async with running_hub(config) as (hub, lab):
            lab.esme.raise_alert(0x8F3E, critical=True)  # goes to the broker about to die
            await asyncio.sleep(0.5)
            os.kill(broker.pid, signal.SIGKILL)
            broker.process.wait(timeout=5)
            await asyncio.sleep(0.5)
            # Raised while the broker is away: queued, not lost.
            during = [lab.esme.raise_alert(0x8F35, message_code=0x0067) for _ in range(3)]
            await asyncio.sleep(1.0)
            assert not hub.uplink.connected.is_set()
            broker = start_mosquitto(tmp_path / "broker", port=broker.port)
            async with recording(broker.host, broker.port, f"{base}/#") as rec:
                async with asyncio.timeout(20):
                    await hub.uplink.connected.wait()
                after = lab.esme.raise_alert(0x8F74, critical=True)
                want = {*during, after}

                def frames() -> set[bytes]:
                    return {
                        base64.b64decode(m.json()["frame"])
                        for m in rec.messages
                        if "/up/" in m.topic
                    }

                await rec.wait_for(lambda _m: want <= frames(), timeout=20)
                await rec.wait_for(lambda _m: bool(rec.on("/bridge/state")), timeout=5)
            assert hub.uplink.reconnects >= 1
            assert rec.on("/bridge/state")[-1].json() == {"state": "online"}
    finally:
        stop_process(broker.pid, broker.process)
