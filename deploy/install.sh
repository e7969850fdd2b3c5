#!/bin/sh
# hashflex board installer. Run as root from the unpacked package:
#   tar -xzf hashflex-VERSION.tar.gz && cd hashflex-VERSION && sudo ./install.sh
# Options:
#   --sqlite-prebuilt FILE   better-sqlite3-vVER-node-vABI-linux-ARCH.tar.gz fetched from
#                            https://github.com/WiseLibs/better-sqlite3/releases (offline boards)
#   --start                  start the service now (default: enable only; start after `hashflex doctor`)
#   --root DIR               install under DIR instead of / (staging an image; no user, no systemctl)
# What it does: checks node >= 20; creates the system user `hashflex` (group dialout for the
# serial ports); installs the package to /opt/hashflex (the previous one kept as /opt/hashflex.prev);
# makes sure better-sqlite3 has a binding for this board; writes /usr/local/bin/hashflex,
# /etc/hashflex/agent.yaml (only if missing) and /etc/hashflex/uplink.token (empty, only if
# missing); installs and enables hashflex.service. Safe to run again (upgrades keep the config).
set -eu

PKG=$(cd "$(dirname "$0")" && pwd)
ROOT=
START=no
SQLITE_PREBUILT=
while [ $# -gt 0 ]; do
  case "$1" in
    --sqlite-prebuilt) SQLITE_PREBUILT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --start) START=yes; shift ;;
    --root) ROOT=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

say() { echo "hashflex install: $*"; }
die() { echo "hashflex install: ERROR: $*" >&2; exit 1; }

[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo ./install.sh)"

NODE=$(command -v node || true)
[ -n "$NODE" ] || die "node not found: install Node.js 20 or later (INSTALL.md, step 2)"
NODE_MAJOR=$("$NODE" -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "node $("$NODE" --version) is too old: hashflex needs Node.js 20 or later"
ARCH=$("$NODE" -p process.arch)
ABI=$("$NODE" -p process.versions.modules)
case "$ARCH" in
  x64|arm64|arm) ;;
  *) die "unsupported architecture $ARCH (supported: x64, arm64, arm/armv7)" ;;
esac
say "node $("$NODE" --version) on linux-$ARCH (ABI $ABI)"

OPT=$ROOT/opt/hashflex
ETC=$ROOT/etc/hashflex

# 1. the service user: no login, no home of its own, serial ports through dialout
if [ -z "$ROOT" ]; then
  if ! id hashflex >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/hashflex --no-create-home \
      --shell /usr/sbin/nologin --groups dialout hashflex
    say "created user hashflex (groups: hashflex, dialout)"
  else
    usermod -a -G dialout hashflex
  fi
fi

# 2. the files: a fresh tree beside the old one, then swapped in (the old one kept for rollback)
mkdir -p "$ROOT/opt"
rm -rf "$OPT.new"
cp -R "$PKG" "$OPT.new"
if [ -d "$OPT" ]; then rm -rf "$OPT.prev"; mv "$OPT" "$OPT.prev"; fi
mv "$OPT.new" "$OPT"
chown -R root:root "$OPT" 2>/dev/null || true
say "installed $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$OPT/MANIFEST.json" | head -1) to $OPT"

# 3. better-sqlite3 needs a binding built for this board's architecture and Node ABI. The package
#    carries the one for the machine it was built on (and any prebuilds added at packaging time).
BINDING_DIR=$OPT/node_modules/better-sqlite3/lib/binding/node-v$ABI-linux-$ARCH
SQLITE_VERSION=$(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$OPT/node_modules/better-sqlite3/package.json" | head -1)
if [ ! -f "$BINDING_DIR/better_sqlite3.node" ]; then
  mkdir -p "$BINDING_DIR"
  PREV_BINDING=$OPT.prev/node_modules/better-sqlite3/lib/binding/node-v$ABI-linux-$ARCH/better_sqlite3.node
  PREV_VERSION=$(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$OPT.prev/node_modules/better-sqlite3/package.json" 2>/dev/null | head -1)
  if [ -f "$PREV_BINDING" ] && [ "$PREV_VERSION" = "$SQLITE_VERSION" ]; then
    # an upgrade: the binding fetched for the previous install still fits
    cp "$PREV_BINDING" "$BINDING_DIR/"
    say "better-sqlite3 binding kept from the previous install"
  elif [ -n "$SQLITE_PREBUILT" ]; then
    tar -xzf "$SQLITE_PREBUILT" -C "$BINDING_DIR" --strip-components=2 build/Release/better_sqlite3.node \
      || die "$SQLITE_PREBUILT holds no build/Release/better_sqlite3.node"
    say "better-sqlite3 binding from $SQLITE_PREBUILT"
  elif command -v npm >/dev/null 2>&1; then
    # npm runs better-sqlite3's install: prebuild-install downloads the release prebuild for
    # this arch/ABI from GitHub, or, failing that, node-gyp compiles it (needs python3 make g++)
    say "no better-sqlite3 binding for linux-$ARCH ABI $ABI in the package: fetching $SQLITE_VERSION with npm"
    TMP=$(mktemp -d)
    (cd "$TMP" && npm install --no-save --no-audit --no-fund "better-sqlite3@$SQLITE_VERSION" >/dev/null) \
      || die "npm could not fetch or build better-sqlite3 (no network? see INSTALL.md: offline boards)"
    cp "$TMP/node_modules/better-sqlite3/build/Release/better_sqlite3.node" "$BINDING_DIR/"
    rm -rf "$TMP"
  else
    die "no better-sqlite3 binding for linux-$ARCH (Node ABI $ABI) and no npm: download
  better-sqlite3-v$SQLITE_VERSION-node-v$ABI-linux-$ARCH.tar.gz from
  https://github.com/WiseLibs/better-sqlite3/releases/tag/v$SQLITE_VERSION and run
  ./install.sh --sqlite-prebuilt FILE"
  fi
fi
# prove both natives load on this board before anything is enabled
"$NODE" -e "const D=require('$OPT/node_modules/better-sqlite3'); new D(':memory:').prepare('select 1').get()" \
  || die "better-sqlite3 binding in $BINDING_DIR does not load on this board"
"$NODE" -e "require('$OPT/node_modules/@serialport/bindings-cpp').autoDetect()" \
  || die "serialport has no prebuild that loads on linux-$ARCH"
say "native modules load (better-sqlite3 $SQLITE_VERSION, serialport)"

# 4. the command, the config (never overwritten), the unit
mkdir -p "$ROOT/usr/local/bin" "$ETC"
# the command runs the bundle as the service does: the unit's node flags and MALLOC_ARENA_MAX
NODE_FLAGS=$(sed -n 's#^ExecStart=@NODE@ \(.*[^ ]\) */opt/hashflex/hashflex\.js .*#\1#p' "$OPT/hashflex.service")
printf '#!/bin/sh\n: "${MALLOC_ARENA_MAX:=2}"\nexport MALLOC_ARENA_MAX\nexec %s %s%s/hashflex.js "$@"\n' \
  "$NODE" "${NODE_FLAGS:+$NODE_FLAGS }" /opt/hashflex > "$ROOT/usr/local/bin/hashflex"
chmod 755 "$ROOT/usr/local/bin/hashflex"
if [ ! -f "$ETC/agent.yaml" ]; then
  cp "$OPT/agent.yaml" "$ETC/agent.yaml"
  say "wrote $ETC/agent.yaml: edit it for this site"
fi
if [ ! -f "$ETC/uplink.token" ]; then
  : > "$ETC/uplink.token"
  say "created $ETC/uplink.token (empty): put the site token in it"
fi
# the storage dir (systemd's StateDirectory= makes it too, but doctor runs before the first start)
mkdir -p "$ROOT/var/lib/hashflex"
if [ -z "$ROOT" ]; then
  chown hashflex:hashflex "$ROOT/var/lib/hashflex"
  chmod 750 "$ROOT/var/lib/hashflex"
  chown root:hashflex "$ETC" "$ETC/agent.yaml" "$ETC/uplink.token"
  chmod 750 "$ETC"
  chmod 640 "$ETC/agent.yaml" "$ETC/uplink.token"
fi
mkdir -p "$ROOT/etc/systemd/system"
sed "s#@NODE@#$NODE#" "$OPT/hashflex.service" > "$ROOT/etc/systemd/system/hashflex.service"

if [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  systemctl enable hashflex.service >/dev/null
  say "hashflex.service enabled (starts at boot)"
  if [ "$START" = yes ]; then systemctl restart hashflex.service; say "hashflex.service started"; fi
fi
say "next: edit $ETC/agent.yaml, then run: sudo -u hashflex hashflex doctor -c $ETC/agent.yaml"
say "when every check passes: sudo systemctl start hashflex && journalctl -u hashflex -f"
