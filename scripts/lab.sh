#!/usr/bin/env bash
# One command for the lab default: set up, make sure a broker listens on 127.0.0.1:1883, and
# run the hub on the virtual radio with simulated meters and a live view. Ctrl-C stops it.
# Extra arguments go to `han-agent run`; with --mqtt-url the broker is yours to provide.
# `--radio emulated` runs the same lab through real bellows against the emulated EZSP NCP on a
# pty (config/lab-emulated-ncp.toml); `--radio virtual` (the default) on the virtual radio.
set -euo pipefail
cd "$(dirname "$0")/.."

config=config/lab-virtual.toml
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --radio)
      case "${2:-}" in
        virtual) config=config/lab-virtual.toml ;;
        emulated) config=config/lab-emulated-ncp.toml ;;
        *) echo "lab.sh: --radio takes 'virtual' or 'emulated', not '${2:-}'" >&2; exit 64 ;;
      esac
      shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
bash scripts/setup.sh

run() { exec .venv/bin/han-agent run --config "$config" "$@"; }
case " $* " in *" --mqtt-url"*) run "$@" ;; esac

listening() {
  python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', 1883)))"
}
if ! listening; then
  echo "starting mosquitto on 127.0.0.1:1883"
  if [ -d /run/systemd/system ]; then
    # Debian's mosquitto package enables a service that listens on localhost only.
    if [ "$(id -u)" -eq 0 ]; then systemctl start mosquitto; else sudo systemctl start mosquitto; fi
  else
    # No systemd (a container): our own loopback-only broker, in the background.
    mkdir -p .lab && chmod 755 .lab
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' > .lab/mosquitto.conf
    chmod 644 .lab/mosquitto.conf
    "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c .lab/mosquitto.conf -d
  fi
  for _ in $(seq 50); do listening && break; sleep 0.1; done
  listening || { echo "no MQTT broker on 127.0.0.1:1883 and mosquitto did not start" >&2; exit 1; }
fi
run "$@"
