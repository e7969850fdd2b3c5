import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { wordsF32 } from '../sim/rtu';
import { scadaRig, type ScadaRig } from './fixtures/scada/rig';
import { needs, peer } from './harness/peers';

/**
 * The SCADA server against independent Modbus clients: Debian's mbpoll (libmodbus) with the
 * README's own commands, and python3-pymodbus playing the RTU. Each reads every register,
 * writes the coil and the cap, and gets the exceptions for bad writes.
 */
const run = promisify(execFile);

async function mbpoll(r: ScadaRig, args: string[]): Promise<string> {
  // the README's S="-m tcp -p PORT -a 1 -0 -1", host last (writes: values after it)
  const all = ['-m', 'tcp', '-p', String(r.port), '-a', '1', '-0', '-1', ...args];
  const res = await run('mbpoll', all, { timeout: 10_000 }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` }));
  return res.stdout;
}

/** `[ref]: value` lines of an mbpoll read */
function values(out: string): Map<number, string> {
  return new Map([...out.matchAll(/^\[(\d+)\]:\s+(\S+)/gm)].map((m) => [Number(m[1]), m[2]]));
}

const mb = needs('mbpoll', suite('mbpoll'));

mb('mbpoll reads every register with the README\'s commands: integers, 32-bit counters and floats, big-endian words', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    const head = values(await mbpoll(r, ['-t', '4', '-r', '0', '-c', '4', '127.0.0.1']));
    assert.equal([...head.values()], ['1', '0', '0', '1'], 'version 1, running, no trips, setpoint mode');
    assert.is(values(await mbpoll(r, ['-t', '4:int', '-B', '-r', '4', '127.0.0.1'])).get(4), '60', 'heartbeat: 60 s of site time');
    const f = values(await mbpoll(r, ['-t', '4:float', '-B', '-r', '6', '-c', '7', '127.0.0.1']));
    assert.is(Number(f.get(6)), 59.98, 'Hz');
    assert.ok(Math.abs(Number(f.get(8)) - r.site.telemetry().grid.kw) < 1e-3, 'grid kW');
    assert.ok(Math.abs(Number(f.get(10)) - r.site.minersKw()) < 1e-4, 'miners kW');
    assert.is(Number(f.get(12)), 3, 'target');
    assert.is(Number(f.get(16)), 10, 'capacity = control.max_kw');
    assert.is(f.get(18), 'nan', 'no trip yet');
    assert.is(values(await mbpoll(r, ['-t', '4:int', '-B', '-r', '20', '127.0.0.1'])).get(20), '0');
    // input registers: the same values at the same addresses
    assert.equal(values(await mbpoll(r, ['-t', '3', '-r', '0', '-c', '4', '127.0.0.1'])), head);
    assert.is(values(await mbpoll(r, ['-t', '3:float', '-B', '-r', '100', '-c', '1', '127.0.0.1'])).get(100), 'nan', 'no cap');
  } finally {
    await r.close();
  }
});

mb('mbpoll curtails the site through the coil (all boards off when it returns), reads it back, and ends it', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    assert.equal(r.hashing(), r.ids);
    const out = await mbpoll(r, ['-t', '0', '-r', '0', '127.0.0.1', '1']);
    assert.match(out, /Written 1 references/);
    assert.ok(r.allOff(), 'every board off once mbpoll has its reply');
    assert.is(values(await mbpoll(r, ['-t', '0', '-r', '0', '127.0.0.1'])).get(0), '1');
    assert.equal([...values(await mbpoll(r, ['-t', '4', '-r', '1', '-c', '2', '127.0.0.1'])).values()], ['1', '128']);
    assert.match(await mbpoll(r, ['-t', '0', '-r', '0', '127.0.0.1', '0']), /Written 1 references/);
    assert.is(r.site.controller.state, 'ramping');
    await r.run(60_000);
    assert.equal(r.hashing(), r.ids);
  } finally {
    await r.close();
  }
});

mb('mbpoll writes the lease and the cap as the README shows, and clears the cap with -1', async () => {
  const r = await scadaRig({ setpointKw: 6 });
  try {
    await r.run(60_000);
    assert.match(await mbpoll(r, ['-t', '4', '-r', '102', '127.0.0.1', '300']), /Written 1 references/);
    assert.match(await mbpoll(r, ['-t', '4:float', '-B', '-r', '100', '127.0.0.1', '2.5']), /Written 1 references/);
    assert.is(r.site.controller.leaseKw, 2.5);
    assert.is(values(await mbpoll(r, ['-t', '4:float', '-B', '-r', '100', '-c', '1', '127.0.0.1'])).get(100), '2.5');
    assert.is(values(await mbpoll(r, ['-t', '4', '-r', '102', '127.0.0.1'])).get(102), '300');
    await r.run(299_000);
    assert.is(r.site.controller.leaseKw, 2.5, 'held for the lease');
    await mbpoll(r, ['-t', '4:float', '-B', '-r', '100', '127.0.0.1', '--', '-1']);
    await r.run(100);
    assert.is(r.site.controller.leaseKw, undefined, 'a negative cap = none');
  } finally {
    await r.close();
  }
});

mb('mbpoll gets an exception, and the site no change, for each bad request', async () => {
  const r = await scadaRig();
  try {
    await r.run(60_000);
    assert.match(await mbpoll(r, ['-t', '4', '-r', '0', '127.0.0.1', '5']), /Write output \(holding\) register failed: Illegal data address/);
    assert.match(await mbpoll(r, ['-t', '4', '-r', '100', '127.0.0.1', '5']), /Illegal data address/, 'half of the cap');
    assert.match(await mbpoll(r, ['-t', '4:float', '-B', '-r', '100', '127.0.0.1', '2e7']), /Illegal data value/, 'a cap above 1e6 kW');
    assert.match(await mbpoll(r, ['-t', '0', '-r', '1', '127.0.0.1', '1']), /Write discrete output \(coil\) failed: Illegal data address/);
    assert.match(await mbpoll(r, ['-t', '4', '-r', '22', '127.0.0.1']), /Read output \(holding\) register failed: Illegal data address/);
    assert.match(await mbpoll(r, ['-t', '1', '-r', '0', '127.0.0.1']), /Illegal function/, 'no discrete inputs');
    assert.match(await mbpoll(r, ['-a', '2', '-t', '4', '-r', '0', '127.0.0.1']), /Target device failed to respond/, 'another unit id');
    assert.equal(r.hashing(), r.ids);
    assert.is(r.site.controller.leaseKw, undefined);
    assert.equal(r.site.controller.tripSources, []);
  } finally {
    await r.close();
  }
});

mb('With write: false, mbpoll\'s coil write is refused (Illegal function) and nothing is curtailed', async () => {
  const r = await scadaRig({ scada: { write: false } });
  try {
    await r.run(60_000);
    assert.match(await mbpoll(r, ['-t', '0', '-r', '0', '127.0.0.1', '1']), /Illegal function/);
    assert.equal(r.hashing(), r.ids);
  } finally {
    await r.close();
  }
});

mb.run();

// ---- pymodbus ----------------------------------------------------------------------------------

/** the pymodbus RTU (test/fixtures/scada/pymodbus_rtu.py): one JSON command, one JSON answer */
function pymodbus() {
  const py = spawn(peer('python3-pymodbus') ?? '/usr/bin/python3', [path.join(__dirname, 'fixtures/scada/pymodbus_rtu.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: py.stdout! });
  const queue: ((l: string) => void)[] = [];
  lines.on('line', (l) => queue.shift()?.(l));
  return {
    ask: (cmd: Record<string, unknown>): Promise<any> => new Promise((resolve) => {
      queue.push((l) => resolve(JSON.parse(l)));
      py.stdin!.write(`${JSON.stringify(cmd)}\n`);
    }),
    close: () => new Promise<void>((r) => { py.once('exit', () => r()); py.stdin!.end(); }),
  };
}

const pm = needs('python3-pymodbus', suite('pymodbus'));

pm('pymodbus reads every register of both tables, decodes the floats with its own payload decoder, and curtails through the coil', async () => {
  const r = await scadaRig();
  const py = pymodbus();
  try {
    await r.run(60_000);
    assert.equal(await py.ask({ op: 'connect', port: r.port }), { connected: true });
    const hold = await py.ask({ op: 'read', fn: 3, addr: 0, count: 22 });
    const input = await py.ask({ op: 'read', fn: 4, addr: 0, count: 22 });
    assert.equal(hold.registers.length, 22);
    assert.equal(input, hold, 'FC 04 = FC 03');
    assert.equal(hold.registers.slice(0, 4), [1, 0, 0, 1]);
    assert.is((await py.ask({ op: 'decode_f32', addr: 6 })).value.toFixed(2), '59.98');
    assert.is((await py.ask({ op: 'decode_f32', addr: 16 })).value, 10);
    assert.is((await py.ask({ op: 'decode_f32', addr: 18 })).value, null, 'NaN before the first trip');
    assert.equal(await py.ask({ op: 'read', fn: 3, addr: 100, count: 3 }), { registers: [0x7fc0, 0, 0] });
    assert.equal(await py.ask({ op: 'write_coil', addr: 0, value: true }), { ok: true });
    assert.ok(r.allOff(), 'every board off once pymodbus has its reply');
    assert.equal(await py.ask({ op: 'read_coil' }), { bit: true });
    const after = (await py.ask({ op: 'read', fn: 3, addr: 0, count: 22 })).registers as number[];
    assert.is(after[1], 1);
    assert.is(after[2], 128);
    assert.is(after[21], 1, 'one trip');
    assert.equal(await py.ask({ op: 'write_coil', addr: 0, value: false }), { ok: true });
    assert.equal(await py.ask({ op: 'read_coil' }), { bit: false });
  } finally {
    await py.close();
    await r.close();
  }
});

pm('pymodbus writes a cap with its lease in one FC 16 (its own float packing); bad writes get exceptions 02 and 03', async () => {
  const r = await scadaRig({ setpointKw: 6 });
  const py = pymodbus();
  try {
    await r.run(60_000);
    await py.ask({ op: 'connect', port: r.port });
    const w = await py.ask({ op: 'cap', kw: 1.75, lease_s: 45 });
    assert.is(w.ok, true, JSON.stringify(w));
    assert.is(r.site.controller.leaseKw, 1.75);
    assert.is((await py.ask({ op: 'decode_f32', addr: 100 })).value, 1.75);
    await r.run(44_000);
    assert.is(r.site.controller.leaseKw, 1.75);
    await r.run(1500);
    assert.is(r.site.controller.leaseKw, undefined, 'lapsed after its 45 s lease');
    assert.equal(await py.ask({ op: 'write_register', addr: 3, value: 0 }), { exception: 2 });
    assert.equal(await py.ask({ op: 'write_registers', addr: 101, values: [0, 10] }), { exception: 2 });
    assert.equal(await py.ask({ op: 'cap', kw: 'inf' }), { exception: 3 });
    assert.equal(await py.ask({ op: 'read', fn: 3, addr: 21, count: 2 }), { exception: 2 });
    assert.is(r.site.controller.leaseKw, undefined);
    const [hi, lo] = (await py.ask({ op: 'read', fn: 4, addr: 100, count: 2 })).registers;
    assert.ok(Number.isNaN(wordsF32(hi, lo)));
  } finally {
    await py.close();
    await r.close();
  }
});

pm('pymodbus from 127.0.0.2, outside scada.allow (127.0.0.1/32), is not served', async () => {
  const r = await scadaRig();
  const py = pymodbus();
  try {
    await py.ask({ op: 'connect', port: r.port, source: '127.0.0.2' });
    const got = await py.ask({ op: 'write_coil', addr: 0, value: true });
    assert.ok(got.error !== undefined, JSON.stringify(got));
    assert.equal(r.site.controller.tripSources, []);
    assert.ok(r.scada.stats.refused.allow >= 1);
  } finally {
    await py.close();
    await r.close();
  }
});

pm.run();
