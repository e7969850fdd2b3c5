#!/bin/sh
# hashflex board installer: run as root from the unpacked package (usage below, INSTALL.md step 3).
# Order: check the arguments, node and every file of the package against MANIFEST.json's sha256
# sums; only then touch the system (user, /opt/hashflex, /etc/hashflex, the unit).
set -eu

usage() {
  cat <<'USAGE'
usage: sudo ./install.sh [--start] [--sqlite-prebuilt FILE] [--root DIR]
  run from the unpacked package: tar -xzf hashflex-VERSION.tar.gz && cd hashflex-VERSION

  --sqlite-prebuilt FILE   better-sqlite3-vVER-node-vABI-linux-ARCH.tar.gz from
                           https://github.com/WiseLibs/better-sqlite3/releases (offline arm boards)
  --start                  start the service now, if `hashflex config check` passes
                           (default: enable only; start after `hashflex doctor`)
  --root DIR               stage an image under DIR instead of installing to / (no root needed;
                           no user created, no systemctl: the unit is written, not enabled)
  -h, --help               this text

Checks node >= 20 and every file against MANIFEST.json (sha256sum); creates the system user
hashflex (groups hashflex, dialout); installs to /opt/hashflex (the previous version kept as
/opt/hashflex.prev); makes sure better-sqlite3 loads; writes /usr/local/bin/hashflex,
/etc/hashflex/agent.yaml and an empty /etc/hashflex/uplink.token (only if missing: an upgrade
keeps the config); installs and enables hashflex.service. Safe to run again.
Exit status: 0 installed, 1 a check or step failed (nothing is installed when a check fails),
2 bad usage.
USAGE
}

usage_error() { echo "install.sh: $*" >&2; echo "run ./install.sh --help for the options" >&2; exit 2; }

PKG=$(cd "$(dirname "$0")" && pwd)
ROOT=
START=no
SQLITE_PREBUILT=
# an option's value: present, and not the next option
value() {
  [ "$2" -ge 2 ] || usage_error "$1 needs a value"
  case "$3" in
    ''|-*) usage_error "$1 needs a value (got '${3}')" ;;
  esac
}
while [ $# -gt 0 ]; do
  case "$1" in
    --sqlite-prebuilt)
      value "$1" $# "${2-}"
      [ -f "$2" ] || usage_error "--sqlite-prebuilt: no such file: $2"
      SQLITE_PREBUILT=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --start) START=yes; shift ;;
    --root) value "$1" $# "${2-}"; ROOT=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown option $1" ;;
  esac
done
[ -z "$ROOT" ] || [ "$START" = no ] || usage_error "--start and --root do not go together: a staged image is started on its board"

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
[ -n "$ROOT" ] || [ "$START" = no ] || command -v systemctl >/dev/null 2>&1 \
  || die "--start needs systemd, and systemctl is not on this board: nothing was installed (run without --start)"

# 0. the package is what was built: every file's sha256 against MANIFEST.json, and no file the
#    manifest does not list, before anything is installed. (Integrity: a truncated copy, a bad SD
#    card, a file edited in the package. MANIFEST.json is not signed: this is not authenticity.)
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (package coreutils): it checks the package's files"
[ -f "$PKG/MANIFEST.json" ] || die "$PKG/MANIFEST.json is missing: unpack the package tarball again"
SUMS=$(mktemp)
trap 'rm -f "$SUMS" "$SUMS.bad" "$SUMS.listed" "$SUMS.found"' EXIT
"$NODE" -e '
  const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (!Array.isArray(m.files) || m.files.length === 0) { console.error("MANIFEST.json lists no files"); process.exit(1); }
  for (const f of m.files) {
    if (!/^[0-9a-f]{64}$/.test(f.sha256) || typeof f.path !== "string" || /^\/|(^|\/)\.\.(\/|$)|\n/.test(f.path)) { console.error("MANIFEST.json: bad entry " + JSON.stringify(f)); process.exit(1); }
    process.stdout.write(f.sha256 + "  " + f.path + "\n");
  }' "$PKG/MANIFEST.json" > "$SUMS" || die "$PKG/MANIFEST.json does not parse: unpack the package tarball again"
if ! (cd "$PKG" && sha256sum --check --strict --quiet "$SUMS") > "$SUMS.bad" 2>&1; then
  sed 's/^/  /' "$SUMS.bad" >&2
  die "the package does not match its MANIFEST.json (the files above): a damaged or altered copy.
  Nothing was installed. Copy and unpack hashflex-VERSION.tar.gz again (check: sha256sum it against
  the build's); edit the config in /etc/hashflex after installing, never in the package"
fi
sed 's/^[0-9a-f]*  //' "$SUMS" | LC_ALL=C sort > "$SUMS.listed"
(cd "$PKG" && find . ! -type d ! -path ./MANIFEST.json | sed 's#^\./##' | LC_ALL=C sort) > "$SUMS.found"
EXTRA=$(LC_ALL=C comm -13 "$SUMS.listed" "$SUMS.found")
[ -z "$EXTRA" ] || die "files in the package that MANIFEST.json does not list (nothing was installed):
$(echo "$EXTRA" | sed 's/^/  /')
  unpack the package tarball into an empty directory and run its install.sh"
say "package verified: $(wc -l < "$SUMS" | tr -d ' ') files match MANIFEST.json"

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
  say "created $ETC/uplink.token (empty): put the site token on its first line (the agent refuses to start until then)"
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

if [ -n "$ROOT" ]; then
  say "staged under $ROOT: no user created and no unit enabled; on the board, as root:"
  say "  useradd --system --user-group --home-dir /var/lib/hashflex --no-create-home --shell /usr/sbin/nologin --groups dialout hashflex"
  say "  chown hashflex:hashflex /var/lib/hashflex && chown root:hashflex /etc/hashflex /etc/hashflex/agent.yaml /etc/hashflex/uplink.token"
  say "  chmod 750 /var/lib/hashflex /etc/hashflex && chmod 640 /etc/hashflex/agent.yaml /etc/hashflex/uplink.token"
  say "  systemctl daemon-reload && systemctl enable hashflex.service"
  exit 0
fi
if ! command -v systemctl >/dev/null 2>&1; then
  # no systemd: the unit file is there for a later systemd, nothing is enabled and nothing runs
  say "systemctl not found: wrote $ROOT/etc/systemd/system/hashflex.service but did not enable it; nothing starts at boot"
  say "next: edit $ETC/agent.yaml, then run: sudo -u hashflex hashflex doctor -c $ETC/agent.yaml"
  say "this board has no systemd: run the agent under your init system as user hashflex: /usr/local/bin/hashflex run -c $ETC/agent.yaml"
  exit 0
fi
systemctl daemon-reload
systemctl enable hashflex.service >/dev/null
say "hashflex.service enabled (starts at boot)"
if [ "$START" = yes ]; then
  # the agent refuses a bad config (an empty token file, too) with exit 2: say so here, not in the journal
  "$ROOT/usr/local/bin/hashflex" config check "$ETC/agent.yaml" \
    || die "not started: fix the lines above in $ETC/agent.yaml (or its token file), then: sudo systemctl start hashflex"
  systemctl restart hashflex.service; say "hashflex.service started"
  say "next: sudo -u hashflex hashflex doctor needs the ports: sudo systemctl stop hashflex first (INSTALL.md step 6)"
  exit 0
fi
say "next: edit $ETC/agent.yaml, then run: sudo -u hashflex hashflex doctor -c $ETC/agent.yaml"
say "when every check passes: sudo systemctl start hashflex && journalctl -u hashflex -f"
