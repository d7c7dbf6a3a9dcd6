"""The fuzz runner and the benchmark run, and the fuzz oracle is not vacuous.

The full fuzz (a million inputs) is `make fuzz`; here a small count runs as part of CI. The
benchmark's figure is not asserted (speed is measured, never tested): this only checks it runs.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.policy import Action, Decision, parse_profile
from gbcs.classify import classify
from gbcs.codes import Category
from gbcs.frame import parse_frame

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402
import e2e_bench  # noqa: E402
import e2e_sub  # noqa: E402
import gbcs_fuzz  # noqa: E402
from conftest import Broker  # noqa: E402


def run_script(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_fuzz_runner_small_count_finds_nothing() -> None:
    done = run_script("bench/gbcs_fuzz.py", "--count", "30000", "--seed", "7")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "inputs: 30,000" in done.stdout
    assert "failures: 0" in done.stdout
    assert "malformed" in done.stdout and "forwarded" in done.stdout


def test_fuzz_oracle_catches_a_policy_that_forwards_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def forward_all(*args: object) -> Decision:
        return Decision(Action.FORWARD, Category.UNKNOWN, "broken", "broken")

    monkeypatch.setattr(gbcs_fuzz, "decide", forward_all)
    profile = parse_profile((ROOT / "config/restricted-profile.toml").read_text(encoding="utf-8"))
    failures = [gbcs_fuzz.check(f, profile)[1] for f in corpus.build_corpus()]
    assert any(f is not None and "restricted mode forwarded" in f for f in failures)


def test_corpus_covers_every_framing_and_is_well_formed() -> None:
    frames = [parse_frame(f) for f in corpus.build_corpus()]
    assert {f.framing for f in frames} == {"general-ciphering", "general-signing", "gbt"}
    categories = {classify(f) for f in frames}
    assert set(Category) - {Category.UNKNOWN} <= categories
    profile = parse_profile((ROOT / "config/restricted-profile.toml").read_text(encoding="utf-8"))
    for data in corpus.build_corpus():
        outcome, failure = gbcs_fuzz.check(data, profile)
        assert failure is None, outcome


def test_benchmark_runs_and_prints_a_figure() -> None:
    done = run_script("bench/gbcs_bench.py", "--rounds", "1", "--repeats", "1")
    assert done.returncode == 0, done.stderr
    assert "frames/s" in done.stdout and "corpus:" in done.stdout


def test_firmware_bench_runs() -> None:
    done = run_script("bench/firmware_bench.py", "--size", "4000")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "status: ok" in done.stdout and "meter_result: verified" in done.stdout
    assert "blocks_served: 83" in done.stdout  # 4126 bytes in 50-byte blocks, rounded up


def test_e2e_subscriber_reads_whole_packets_across_any_split() -> None:
    """The benchmark's own MQTT reader: packets cut anywhere by recv() come out whole, in order,
    with a PUBACK for exactly the QoS 1 ones (a miscount would make every figure wrong)."""
    messages = [(1, 7, b"{}"), (0, 0, b"x" * 200), (1, 300, b"y" * 20_000), (1, 65535, b"")]
    wire = b""
    for qos, mid, payload in messages:
        head = e2e_sub.utf8("test/hub/up/security") + (mid.to_bytes(2, "big") if qos else b"")
        wire += e2e_sub.packet(e2e_sub.PUBLISH | qos << 1, head + payload)
    wire += e2e_sub.packet(e2e_sub.SUBACK, b"\x00\x01\x01")
    for split in range(len(wire) + 1):
        first, used = e2e_sub.read_packets(wire[:split])
        rest, used_rest = e2e_sub.read_packets(wire[used:])
        assert used + used_rest == len(wire)
        packets = first + rest
        assert [p[0] & 0xF0 for p in packets] == [e2e_sub.PUBLISH] * 4 + [e2e_sub.SUBACK]
        read = [e2e_sub.publish_of(first_byte, body) for first_byte, body in packets[:4]]
        assert [payload for _ack, payload in read] == [m[2] for m in messages]
        assert [ack for ack, _p in read] == [
            None if qos == 0 else bytes([e2e_sub.PUBACK, 2]) + mid.to_bytes(2, "big")
            for qos, mid, _payload in messages
        ]


async def test_e2e_bench_builds_its_frames_without_holding_the_loop(
    broker: Broker, tmp_path: Path
) -> None:
    """Signing a run's frames takes seconds; held in one go it starved the rig's MQTT keepalive
    and the broker dropped the hub mid-bench. Built in slices, the loop keeps turning."""
    rig = e2e_bench.Rig(broker, tmp_path, "full", 2)
    await rig.start()
    try:
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0)
        packets = await e2e_bench.build_packets(rig.devices, 3000)
        ticker.cancel()
        assert len({key for key, _packet in packets}) == 3000  # every frame distinct
        assert rig.hub.uplink.reconnects == 0
        # Generous: a slice of 256 frames is ~0.1 s; the whole build in one go is over 1 s.
        assert max(gaps) < 0.5, f"the loop was held {max(gaps):.2f} s"
    finally:
        await rig.stop()


async def test_e2e_bench_frames_are_signed_once_and_only_reused_by_the_same_meters(
    broker: Broker, tmp_path: Path
) -> None:
    """Every throughput run injects the same frames; a rig whose meters differ in address or
    in tunnel would be handed packets its meters never sent, so it is refused."""
    rig = e2e_bench.Rig(broker, tmp_path / "a", "full", 2)
    await rig.start()
    try:
        frames = e2e_bench.Frames(50)
        packets = await frames.for_rig(rig)
        assert len(packets) == 50
        assert await frames.for_rig(rig) is packets, "built once"
        no_tunnel = e2e_bench.Rig(broker, tmp_path / "b", "full", 2)  # not started
        with pytest.raises(RuntimeError, match="are not"):
            await frames.for_rig(no_tunnel)
        more_meters = e2e_bench.Rig(broker, tmp_path / "c", "full", 3)
        for esme in more_meters.devices:
            esme.tunnel_id = 1
        with pytest.raises(RuntimeError, match="are not"):
            await frames.for_rig(more_meters)
    finally:
        await rig.stop()


def test_e2e_bench_smoke_run() -> None:
    """Small counts through every phase against a real mosquitto; the figures are not judged."""
    done = run_script(
        "bench/e2e_bench.py",
        *("--frames", "200", "--repeats", "1", "--devices", "2"),
        *("--latency-seconds", "1", "--duration", "3", "--ready-runs", "1"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("throughput, hub full:", "throughput, hub restricted:", "throughput, baseline:"):
        assert line in done.stdout
    assert "WARNING" not in done.stdout, "every frame injected must reach the subscriber"
    assert "latency at 100 frames/s, hub: median" in done.stdout
    assert "start to READY=1:" in done.stdout
    assert "RSS over 3 s" in done.stdout


def test_fragment_bench_runs_and_its_commands_arrive_intact() -> None:
    done = run_script("bench/fragment_bench.py", "--count", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  150 bytes (ZCL),  2 blocks, window 1: median" in done.stdout
    assert " 1505 bytes (ZCL), 19 blocks, window 8: median" in done.stdout
