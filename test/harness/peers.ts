import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test as defaultTest, type Test } from 'uvu';

/**
 * Programs outside npm that some suites run against: socat for ptys, the independent protocol
 * peers (Mosquitto, mbpoll, Debian's python3-pymodbus / python3-websockets) and Chromium for the
 * dashboard. A suite that needs one the machine lacks is skipped, not failed: `needs()` hands it
 * a test function whose tests are registered as uvu skips, and records why in the file
 * scripts/test.js passes as HASHFLEX_PEERS_FILE (one JSON line per test), which it prints once
 * in a short block before the closing line. Under HASHFLEX_REQUIRE_PEERS=1 (.ci/run) each such
 * test fails instead, so CI still covers them all. Detection looks at PATH only.
 */
export type Peer = 'socat' | 'mosquitto' | 'mbpoll' | 'chromium' | 'openssl' | 'python3' | 'python3-pymodbus' | 'python3-websockets' | 'python3-cryptography';

interface PeerInfo { what: string; install: string; find(): string | undefined }

const PEERS: Record<Peer, PeerInfo> = {
  socat: { what: 'socat', install: 'apt-get install socat', find: () => (process.env.HASHFLEX_NO_SOCAT === '1' ? undefined : onPath('socat')) },
  mosquitto: { what: 'mosquitto', install: 'apt-get install mosquitto', find: () => (onPath('mosquitto_passwd') ? onPath('mosquitto') : undefined) },
  mbpoll: { what: 'mbpoll', install: 'apt-get install mbpoll', find: () => onPath('mbpoll') },
  openssl: { what: 'openssl', install: 'apt-get install openssl', find: () => onPath('openssl') },
  chromium: { what: 'chromium', install: 'apt-get install chromium', find: () => onPath('chromium') ?? onPath('chromium-browser') },
  // pymodbus.server: Debian's pymodbus 3.0 imports serial_asyncio there, only a Recommends of the package
  'python3-pymodbus': { what: 'python3 with pymodbus', install: 'apt-get install python3-pymodbus python3-serial-asyncio', find: () => pythonWith('pymodbus.server') },
  'python3-websockets': { what: 'python3 with websockets', install: 'apt-get install python3-websockets', find: () => pythonWith('websockets') },
  'python3-cryptography': { what: 'python3 with cryptography', install: 'apt-get install python3-cryptography', find: () => pythonWith('cryptography') },
  python3: { what: 'python3', install: 'apt-get install python3', find: () => pythonWith('os') },
};

/** HASHFLEX_REQUIRE_PEERS=1: a missing program fails the tests that need it */
export const REQUIRE_PEERS = process.env.HASHFLEX_REQUIRE_PEERS === '1';

const found = new Map<Peer, string | undefined>();

/** the program's path (for the python peers: a python3 that imports the module), or undefined */
export function peer(p: Peer): string | undefined {
  if (!found.has(p)) found.set(p, PEERS[p].find());
  return found.get(p);
}

/** `name` in a PATH directory, executable */
function onPath(name: string): string | undefined {
  for (const dir of pathDirs()) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch { /* not here */ }
  }
  return undefined;
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(path.delimiter).filter((d) => d && path.isAbsolute(d));
}

/**
 * The first python3 on PATH that imports `mod`. Debian's python3-* packages import only from
 * /usr/bin/python3, which a pyenv shim earlier on PATH hides, so /usr/bin goes first when it is
 * on PATH at all (never otherwise: a PATH without it has no Debian python).
 */
function pythonWith(mod: string): string | undefined {
  const dirs = pathDirs();
  const ordered = dirs.includes('/usr/bin') ? ['/usr/bin', ...dirs.filter((d) => d !== '/usr/bin')] : dirs;
  const tried = new Set<string>();
  for (const dir of ordered) {
    const py = path.join(dir, 'python3');
    let real: string;
    try { fs.accessSync(py, fs.constants.X_OK); real = fs.realpathSync(py); } catch { continue; }
    if (tried.has(real)) continue;
    tried.add(real);
    if (spawnSync(py, ['-c', `import ${mod}`], { stdio: 'ignore', timeout: 30_000 }).status === 0) return py;
  }
  return undefined;
}

interface Record_ { kind: 'skip' | 'fail' | 'tcp' | 'pty'; file: string; test?: string; missing: { what: string; install: string }[] }

const noted = new Set<string>();

function record(r: Record_): void {
  const file = process.env.HASHFLEX_PEERS_FILE;
  if (file) {
    fs.appendFileSync(file, `${JSON.stringify(r)}\n`);
    return;
  }
  // run outside scripts/test.js (e.g. `npx uvu`): say it once per suite file and program
  const key = `${r.kind} ${r.file} ${r.missing.map((m) => m.what).join()}`;
  if (noted.has(key)) return;
  noted.add(key);
  const why = r.missing.map((m) => `${m.what} not found (${m.install})`).join(', ');
  const what = r.kind === 'tcp' ? 'serial lines over raw TCP instead of ptys' : r.kind === 'skip' ? 'skipped' : 'failed (HASHFLEX_REQUIRE_PEERS=1)';
  process.stderr.write(`  ${r.file}: ${why}: ${what}\n`);
}

/** the test file that is running this (first *.test.ts frame on the stack), relative to test/ */
function callerFile(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  const files = [...stack.matchAll(/(?:\(|at )((?:file:\/\/)?\/[^():]+):\d+:\d+/g)].map((m) => m[1].replace(/^file:\/\//, ''));
  const file = files.find((f) => f.endsWith('.test.ts')) ?? files.find((f) => !f.endsWith(path.join('harness', 'peers.ts'))) ?? 'unknown';
  return path.relative(path.join(__dirname, '..'), file);
}

/**
 * The test function for tests that need `peers`: `base` itself (the file's default uvu test, or
 * a suite) when every one is on the machine. Otherwise a stand-in that registers each test as a
 * uvu skip (or, under HASHFLEX_REQUIRE_PEERS=1, as a failure naming what is missing) and drops
 * before/after hooks, which would start what is not there. Its run() is base's: call it once.
 *
 *   const test = needs('mosquitto');                      // every test in the file
 *   const ptyTest = needs('socat');                       // some of them; the rest use `test`
 *   const s = needs(['mbpoll', 'socat'], suite('…'));     // a suite
 */
export function needs<T = Record<string, any>>(peers: Peer | Peer[], base: Test<T> = defaultTest as unknown as Test<T>): Test<T> {
  const missing = ([] as Peer[]).concat(peers).filter((p) => !peer(p)).map((p) => ({ what: PEERS[p].what, install: PEERS[p].install }));
  if (missing.length === 0) return base;
  const file = callerFile();
  const why = missing.map((m) => `${m.what} is not on PATH (${m.install})`).join('; ');
  const register = (name?: string): void => {
    if (REQUIRE_PEERS) {
      record({ kind: 'fail', file, test: name, missing });
      base(name ?? 'a test', () => { throw new Error(`${why}; HASHFLEX_REQUIRE_PEERS=1 makes a missing program a failure`); });
    } else {
      record({ kind: 'skip', file, test: name, missing });
      base.skip(name);
    }
  };
  const hook = Object.assign(() => {}, { each: () => {} });
  return Object.assign((name: string) => register(name), {
    only: (name: string) => register(name),
    skip: (name?: string) => base.skip(name),
    before: hook,
    after: hook,
    run: () => base.run(),
  }) as unknown as Test<T>;
}

/**
 * For suites that run over either transport (sim/wire's choice): true when socat is there.
 * Without it they run over raw TCP, noted once in the closing block; under
 * HASHFLEX_REQUIRE_PEERS=1 it says true anyway, so the pty is tried and its absence fails.
 */
export function ptyOrTcp(): boolean {
  if (peer('socat')) return true;
  const kind = REQUIRE_PEERS ? 'pty' : 'tcp';
  const file = callerFile();
  const key = `${kind} ${file}`;
  if (!noted.has(key)) {
    noted.add(key);
    record({ kind, file, missing: [{ what: PEERS.socat.what, install: PEERS.socat.install }] });
  }
  return REQUIRE_PEERS;
}
