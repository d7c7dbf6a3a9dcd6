#!/usr/bin/env bash
# Set up everything the agent and its tests need on Debian 12 / Raspberry Pi OS (bookworm):
# Debian packages (python3-venv, mosquitto, mosquitto-clients, systemd, procps) when missing, then
# a virtual environment in .venv with the project and its test extra. Safe to run again; it only
# does what is missing.
#
# --test (scripts/test.sh passes it) also installs what only the tests need: tshark, with which
# tests/test_han_capture.py checks that Wireshark decodes the hub's HAN capture (about 22 MB to
# download, 130 MB installed on Debian 12, so the lab does not get it unasked).
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=false
case "${1:-}" in
  --test) for_tests=true ;;
  "") ;;
  *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need=()
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "han-agent needs Python 3.11 or newer (Debian 12 / Raspberry Pi OS bookworm)" >&2; exit 1; }
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
# mosquitto_sub and mosquitto_pub: the README's way to watch the WAN side.
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
# scripts/check-unit.sh: systemd-analyze, and /bin/kill that the unit's ExecReload names.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -x /bin/kill ] || need+=(procps)
if $for_tests && ! command -v tshark >/dev/null 2>&1; then
  need+=(tshark)
  # Wireshark's package asks whether non-root users may capture; the tests only read files.
  echo "wireshark-common wireshark-common/install-setuid boolean false" \
    | $SUDO debconf-set-selections
fi
# The CBKE tests check the sect283k1 mathematics against the openssl command (tests/openssl_ec.py).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Exact versions (constraints.txt, constraints-test.txt): a change to either reinstalls.
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt constraints-test.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "installing Python packages into .venv (about a minute the first time)"
  log=$(mktemp)
  if ! .venv/bin/python -m pip install -q -e ".[test]" \
      -c constraints.txt -c constraints-test.txt >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "pip install failed (see above)" >&2; exit 1
  fi
  rm -f "$log"
  .venv/bin/python -c "import zigpy, bellows, aiomqtt, cryptography, pytest, hypothesis"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
