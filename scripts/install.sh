#!/usr/bin/env bash
# Install (or upgrade, or uninstall) han-agent as a systemd service on a Pi:
#   scripts/install.sh [install|uninstall]        (make install / make uninstall)
# install: a venv with the agent under $PREFIX (/opt/han-agent), the unit into $UNITDIR
# (/etc/systemd/system), a config template and the restricted profile into $CONFDIR
# (/etc/han-agent; existing files are kept), the supplier trust directory $CONFDIR/trust (root's,
# 0755; the supplier's public key goes there), the dongle udev rule into $UDEVDIR
# (/etc/udev/rules.d), then daemon-reload and udev reload when systemd runs.
# uninstall: removes the unit, the rule and $PREFIX; keeps $CONFDIR and the state directory
# (/var/lib/han-agent), which hold the site's settings and consent record (docs/operations.md).
# DESTDIR=/some/root installs into a staging root and touches nothing else (the tests use it).
# HAN_AGENT_PIP_ARGS adds pip options (e.g. --no-index --find-links DIR for an offline Pi);
# HAN_AGENT_PACKAGE is what pip installs (default: this source tree; a built wheel also works).
# Dependencies are held to the exact versions in constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

ACTION=${1:-install}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/opt/han-agent}
CONFDIR=${CONFDIR:-/etc/han-agent}
UNITDIR=${UNITDIR:-/etc/systemd/system}
UDEVDIR=${UDEVDIR:-/etc/udev/rules.d}
PYTHON=${PYTHON:-python3}
read -r -a PIP_ARGS <<<"${HAN_AGENT_PIP_ARGS:-}"
PACKAGE=${HAN_AGENT_PACKAGE:-$SRC}
UNIT=han-agent.service
RULE=70-han-dongle.rules

for dir in "$PREFIX" "$CONFDIR" "$UNITDIR" "$UDEVDIR"; do
  case "$dir" in /?*) ;; *) echo "install.sh: $dir must be an absolute path" >&2; exit 2 ;; esac
done

# Only touch the running system when installing into it, as root, with systemd as PID 1.
live() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }
need_root() {
  if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo make $ACTION), or set DESTDIR to stage elsewhere" >&2
    exit 1
  fi
}

do_install() {
  need_root
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
    echo "install.sh: han-agent needs Python 3.11 or newer" >&2; exit 1; }
  local root="$DESTDIR$PREFIX"
  install -d -m 0755 "$root" "$root/docs"
  if [ ! -x "$root/.venv/bin/python" ]; then
    "$PYTHON" -m venv "$root/.venv"
  fi
  echo "installing han-agent into $root/.venv"
  # constraints.txt: the exact dependency versions the tests passed on, not the latest release.
  "$root/.venv/bin/python" -m pip install -q --upgrade -c "$SRC/constraints.txt" "${PIP_ARGS[@]}" \
    "$PACKAGE"
  install -m 0644 README.md docs/operations.md docs/architecture.md docs/mqtt.md "$root/docs/"

  # The unit names the installed paths; rewrite them when PREFIX or CONFDIR differ.
  install -d -m 0755 "$DESTDIR$UNITDIR"
  sed -e "s|/opt/han-agent|$PREFIX|g" -e "s|/etc/han-agent/|$CONFDIR/|g" \
    "systemd/$UNIT" >"$DESTDIR$UNITDIR/$UNIT"
  chmod 0644 "$DESTDIR$UNITDIR/$UNIT"

  # Root-owned, world-readable config (ConfigurationDirectory= does not chown it): the service
  # reads it, only root edits it. Never overwrite what the site has edited.
  install -d -m 0755 "$DESTDIR$CONFDIR"
  if [ ! -e "$DESTDIR$CONFDIR/config.toml" ]; then
    install -m 0644 config/han-agent.toml "$DESTDIR$CONFDIR/config.toml"
    echo "wrote $CONFDIR/config.toml: set hub_id and [mqtt] url before starting"
  fi
  if [ ! -e "$DESTDIR$CONFDIR/restricted-profile.toml" ]; then
    install -m 0644 config/restricted-profile.toml "$DESTDIR$CONFDIR/restricted-profile.toml"
  fi
  # The shipped profile, for comparison after an upgrade.
  install -m 0644 config/restricted-profile.toml "$DESTDIR$CONFDIR/restricted-profile.toml.dist"
  # The supplier public keys ([trust] dir of the template). The service is a DynamicUser with no
  # file of its own here, so the directory is 0755 and each key must be world-readable (0644):
  # they are public keys; only root can add one. Keys already there are left alone.
  install -d -m 0755 "$DESTDIR$CONFDIR/trust"

  install -d -m 0755 "$DESTDIR$UDEVDIR"
  install -m 0644 "systemd/$RULE" "$DESTDIR$UDEVDIR/$RULE"

  if live; then
    systemctl daemon-reload
    if command -v udevadm >/dev/null; then
      udevadm control --reload && udevadm trigger --subsystem-match=tty
    fi
    echo "installed. Start with: sudo systemctl enable --now han-agent"
  else
    echo "installed into ${DESTDIR:-/} (systemd not reloaded: not a live systemd install)"
  fi
  local keys=("$DESTDIR$CONFDIR"/trust/*.pem)
  if [ ! -e "${keys[0]}" ]; then
    echo "no supplier key yet: put the supplier's public key (PEM, EC P-256) in $CONFDIR/trust/,"
    echo "  e.g. sudo install -m 0644 supplier.pub.pem $CONFDIR/trust/ (then restart the service"
    echo "  if it runs). Until a key is there no consent command or firmware image is accepted."
  else
    echo "supplier keys in $CONFDIR/trust/: ${#keys[@]} (taken in at a start only while the"
    echo "  hub's trust store is empty; then only a signed trust command changes it)"
  fi
}

do_uninstall() {
  need_root
  if live && systemctl is-active --quiet "$UNIT" 2>/dev/null; then
    systemctl disable --now "$UNIT"
  elif live; then
    systemctl disable "$UNIT" 2>/dev/null || true
  fi
  rm -f "$DESTDIR$UNITDIR/$UNIT" "$DESTDIR$UDEVDIR/$RULE"
  rm -rf -- "$DESTDIR$PREFIX"
  if live; then
    systemctl daemon-reload
    command -v udevadm >/dev/null && udevadm control --reload
  fi
  echo "uninstalled. Kept: $CONFDIR (config) and /var/lib/han-agent (state: consent record)."
}

case "$ACTION" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "usage: scripts/install.sh [install|uninstall]" >&2; exit 2 ;;
esac
