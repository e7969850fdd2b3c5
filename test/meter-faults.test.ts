import fs from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { realClock } from '../agent/clock';
import type { MeterSample } from '../agent/hardware';
import { BusRegistry, createMeter, type MeterCounters, type MeterError, type ModbusMeter } from '../drivers/meter';
import { startSimMeter, type SimMeter, type SimMeterFaults } from '../sim/meter';
import { Plant } from '../sim/plant';
import { openWire, type SimWire } from '../sim/wire';
import { nextEvent, nextFault, nextSample, tmpDir } from './fixtures/meter/rig';
import { needs } from './harness/peers';

/**
 * Every fault the simulated meter can switch on, against the real driver over real transports:
 * Modbus TCP, RTU on a pty (socat), and RTU bytes over raw TCP (sim/wire's fallback, as ser2net).
 * Each fault must be reported with its kind, counted, and recovered from once switched off.
 */
type Transport = 'Modbus TCP' | 'RTU on a pty' | 'RTU over raw TCP';

interface Case {
  fault: string;
  on: (f: SimMeterFaults) => void;
  /** fault kinds the driver may report, per transport (RTU cannot see some faults as such) */
  kinds: (t: Transport) => string[];
  counter: (t: Transport) => keyof MeterCounters;
}

const rtu = (t: Transport) => t !== 'Modbus TCP';
const cases: Case[] = [
  { fault: 'does not answer', on: (f) => { f.timeout = true; }, kinds: () => ['timeout'], counter: () => 'timeouts' },
  // over TCP the sim plays a gateway whose serial side saw the bad CRC: exception 0x0B
  { fault: 'answers with a bad CRC', on: (f) => { f.crc = true; }, kinds: (t) => (rtu(t) ? ['crc'] : ['exception']), counter: (t) => (rtu(t) ? 'crcErrors' : 'exceptions') },
  { fault: 'answers with an exception', on: (f) => { f.exception = 4; }, kinds: () => ['exception'], counter: () => 'exceptions' },
  // an RTU master cannot tell a truncated frame from one still arriving: it times out
  { fault: 'sends short replies', on: (f) => { f.short = true; }, kinds: (t) => (rtu(t) ? ['timeout'] : ['short']), counter: (t) => (rtu(t) ? 'timeouts' : 'shortReplies') },
  // on RS-485 a reply from another unit is someone else's frame, ignored until the timeout
  { fault: 'answers as another unit', on: (f) => { f.wrongUnit = true; }, kinds: (t) => (rtu(t) ? ['timeout'] : ['wrongUnit']), counter: (t) => (rtu(t) ? 'timeouts' : 'wrongUnit') },
  { fault: 'freezes its values', on: (f) => { f.frozen = true; }, kinds: () => ['frozen'], counter: () => 'repeats' },
];

function transportSuite(t: Transport): void {
  // RTU on a pty needs socat; RTU over raw TCP is the same byte stream without it
  const s = t === 'RTU on a pty' ? needs('socat', suite(`meter faults over ${t}`)) : suite(`meter faults over ${t}`);
  const ctx: { plant?: Plant; dir?: string; wire?: SimWire; sim?: SimMeter; meter?: ModbusMeter; buses?: BusRegistry } = {};
  s.before(async () => {
    const plant = new Plant();
    plant.baseLoadKw = 7.25;
    plant.hz = 60.01;
    ctx.plant = plant;
    ctx.dir = tmpDir();
    if (rtu(t)) ctx.wire = await openWire('meter', ctx.dir, t === 'RTU on a pty');
    // the sim's default 5 Hz measurement cycle: 9 of 10 polls at 20 ms read the previous values
    ctx.sim = await startSimMeter({ plant, model: 'sdm630', unit: 7, rtu: ctx.wire, tcp: !rtu(t) });
    ctx.buses = new BusRegistry();
    const link = t === 'Modbus TCP' ? { tcp: ctx.sim.tcp } : { serial: { ...ctx.wire!.endpoint, baud: 115200 } };
    ctx.meter = createMeter({ model: 'sdm630', ...link, unit: 7, poll_ms: 20, stale_ms: 400, frozen_ms: 1000, timeout_ms: 80, backoff_max_ms: 200 }, realClock, { buses: ctx.buses });
    await ctx.meter.start();
    const first = await nextSample(ctx.meter);
    assert.ok(Math.abs(first.kw - 7.25) < 0.01 && Math.abs(first.hz - 60.01) < 0.01);
  });
  s.after(async () => {
    await ctx.meter?.stop();
    await ctx.sim?.close();
    await ctx.wire?.close();
    if (ctx.dir) fs.rmSync(ctx.dir, { recursive: true, force: true });
  });

  for (const c of cases) {
    s(`When the meter ${c.fault}, the driver reports ${c.kinds(t).join(' or ')}, counts it, and recovers when it stops`, async () => {
      const { sim, meter } = ctx as Required<typeof ctx>;
      const counter = c.counter(t);
      const before = meter.counters[counter];
      const fault = nextFault(meter, c.kinds(t));
      const stale = c.fault === 'freezes its values' ? nextEvent(meter, 'stale') : undefined;
      c.on(sim.faults);
      const err = await fault;
      assert.ok(c.kinds(t).includes(err.kind), err.kind);
      await stale;
      assert.ok(meter.counters[counter] > before, `${String(counter)} counted`);
      const lastAt = meter.last!.at;
      sim.heal();
      const s1 = await nextSample(meter);
      assert.ok(s1.at > lastAt, 'a fresh sample after recovery');
      assert.ok(Math.abs(s1.kw - 7.25) < 0.01);
      assert.equal(meter.stale, false);
    });
  }

  s('A read of an unmapped address comes back as exception 02 on the same shared connection', async () => {
    const { sim, wire, buses, meter } = ctx as Required<typeof ctx>;
    const bus = buses.acquire(t === 'Modbus TCP' ? { tcp: sim.tcp } : { serial: { ...wire.endpoint, baud: 115200 } });
    try {
      await bus.read(7, 4, 0x1000, 2, 200);
      assert.unreachable();
    } catch (e) {
      assert.equal((e as MeterError).kind, 'exception');
      assert.equal((e as MeterError).modbusCode, 2);
    } finally {
      await buses.release(bus);
    }
    const s1 = await nextSample(meter);
    assert.ok(Math.abs(s1.hz - 60.01) < 0.01, 'the meter kept polling');
  });

  s('When the link drops and comes back, the driver reconnects by itself and counts it', async () => {
    const { meter } = ctx as Required<typeof ctx>;
    const before = meter.counters.reconnects;
    const lost = nextFault(meter, ['disconnected', 'timeout']);
    if (t === 'Modbus TCP') {
      const port = Number(ctx.sim!.tcp.split(':')[1]);
      await ctx.sim!.close();
      await lost;
      ctx.sim = await startSimMeter({ plant: ctx.plant!, model: 'sdm630', unit: 7, tcpPort: port });
    } else {
      await ctx.wire!.unplug();
      await lost;
      await ctx.wire!.plug();
    }
    const lastAt = meter.last!.at;
    const s1 = await nextEvent<MeterSample>(meter, 'sample', (x) => x.at > lastAt);
    assert.ok(Math.abs(s1.kw - 7.25) < 0.01);
    assert.ok(meter.counters.reconnects > before, 'reconnect counted');
  });

  if (rtu(t)) {
    s('Line noise on the wire is discarded and polling goes on', async () => {
      const { wire, meter } = ctx as Required<typeof ctx>;
      for (let i = 0; i < 20; i++) wire.write(Buffer.from([0x07, 0x04, 0xff, 0x00, 0x13, 0x37, i]));
      const lastAt = meter.last!.at;
      const s1 = await nextEvent<MeterSample>(meter, 'sample', (x) => x.at > lastAt + 50);
      assert.ok(Math.abs(s1.kw - 7.25) < 0.01);
    });
  }
  s.run();
}

transportSuite('Modbus TCP');
transportSuite('RTU on a pty');
transportSuite('RTU over raw TCP');
