#!/usr/bin/env bash
# CI check of the systemd unit as `make install` ships it (docs/gbcs-notes.md 9.3):
# 1. stage an install (scripts/install.sh with DESTDIR) so the entry point exists, offline;
# 2. `systemd-analyze verify` a copy of the installed unit whose paths point into the staging
#    root: it fails on a non-zero status AND on any output, because unknown keys and unparsable
#    values only print a warning and exit 0;
# 3. `systemd-analyze security --offline=yes --threshold=20` (the 0-100 scale: exposure <= 2.0).
# Needs systemd-analyze (Debian package systemd) and /bin/kill (procps): scripts/setup.sh has them.
# UNIT=path checks another unit file through the same steps; STAGE=dir reuses a root staged
# by `DESTDIR=dir scripts/install.sh` instead of staging a new one (the tests use both).
set -euo pipefail
cd "$(dirname "$0")/.."
UNIT=${UNIT:-systemd/han-agent.service}
command -v systemd-analyze >/dev/null || { echo "check-unit: systemd-analyze missing" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
stage=${STAGE:-$root/stage}
if [ -z "${STAGE:-}" ]; then
  .venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w "$root/wheel" . >/dev/null
  rm -rf build
  DESTDIR="$stage" HAN_AGENT_PIP_ARGS="--no-deps --no-index" \
    HAN_AGENT_PACKAGE="$(echo "$root"/wheel/han_agent-*.whl)" bash scripts/install.sh >/dev/null
fi
test -x "$stage/opt/han-agent/.venv/bin/han-agent" || {
  echo "check-unit: no entry point staged at $stage/opt/han-agent/.venv/bin/han-agent" >&2; exit 1; }

mkdir -p "$root/verify"
sed -e "s|/opt/han-agent/|$stage/opt/han-agent/|g" "$UNIT" >"$root/verify/han-agent.service"
set +e
out=$(systemd-analyze verify --man=no "$root/verify/han-agent.service" 2>&1)
rc=$?
set -e
if [ $rc -ne 0 ] || [ -n "$out" ]; then
  echo "check-unit: systemd-analyze verify $UNIT: status $rc" >&2
  [ -z "$out" ] || printf '%s\n' "$out" >&2
  exit 1
fi
echo "systemd-analyze verify $UNIT: clean"

cp "$UNIT" "$root/verify/han-agent.service"
systemd-analyze security --offline=yes --threshold=20 "$root/verify/han-agent.service" | tail -n 1
