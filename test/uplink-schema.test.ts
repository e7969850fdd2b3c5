import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualClock } from '../agent/clock';
import { Uplink } from '../agent/uplink/client';
import { Journal } from '../agent/uplink/journal';
import { parseCommand } from '../agent/uplink/protocol';
import { startSimController } from '../sim/controller';
import { body, rmDir, tmpDir, until, waitFor } from './fixtures/uplink/util';

const ajv = new Ajv({ strict: true, strictRequired: false, allErrors: true });
// RFC 3339 date-time, the form Date.toISOString() writes (ajv-formats would be a package for one regex)
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
const schemaDir = path.join(__dirname, '..', 'schemas');
const schema: Record<string, ValidateFunction> = {};
// every JSON Schema in schemas/ (other documents there, such as the SCADA register map, are data, not schemas)
for (const f of fs.readdirSync(schemaDir).filter((n) => n.endsWith('.json'))) {
  const doc = JSON.parse(fs.readFileSync(path.join(schemaDir, f), 'utf8')) as Record<string, unknown>;
  if (typeof doc.$schema === 'string') schema[path.basename(f, '.json')] = ajv.compile(doc);
}

function check(name: string, frame: unknown): void {
  const v = schema[name];
  assert.ok(v(frame), `${name}: ${ajv.errorsText(v.errors)} in ${JSON.stringify(frame)}`);
}

test('There is a schema for every protocol v1 message', () => {
  assert.equal(Object.keys(schema).sort(), ['ack', 'command', 'event', 'hello', 'received', 'telemetry']);
});

test('The command schemas and parseCommand agree on every golden command', () => {
  const cases = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/uplink/commands.json'), 'utf8')) as Array<{ why: string; frame: unknown; valid: boolean }>;
  for (const c of cases) {
    const type = (c.frame as { type?: string }).type === 'received' ? 'received' : 'command';
    assert.is(schema[type](c.frame), c.valid, `schema on ${c.why}`);
    const p = parseCommand(JSON.stringify(c.frame));
    assert.is(p.ok, c.valid, `parseCommand on ${c.why}`);
    if (!p.ok) assert.ok(p.error.length > 0);
  }
});

test('Every frame the agent sends validates against its schema', async () => {
  const ctl = await startSimController({ token: 't' });
  const dir = tmpDir('schema');
  const journal = Journal.open({ dir });
  const up = new Uplink({ url: ctl.url, token: 't', agentId: 'a1', version: '0.1.0', bootId: '0b6f5e1a-8f0e-4c57-9a55-1d2b3c4d5e6f', journal }, new VirtualClock());
  try {
    up.on('command', (cmd: { id: string }) => up.ack(cmd.id, true));
    up.start();
    const [hello] = await waitFor(ctl, 'hello');
    check('hello', hello);
    const nan = body(1);
    nan.boards[0].temp_c = NaN;
    up.telemetry(body(0));
    up.telemetry(nan);
    up.event({ kind: 'trip', source: 'relay', latency_ms: 2.5 });
    up.event({ kind: 'fault', source: 'hb0', detail: 'no answer' });
    await until(() => ctl.agents.get('a1')!.stored.length === 4);
    const rec = ctl.agents.get('a1')!;
    for (const t of rec.telemetry) check('telemetry', t);
    for (const e of rec.events) check('event', e);
    await ctl.command('a1', 'curtail');
    ctl.sendRaw('a1', '{"type":"command","id":"q","action":"nope"}');
    await until(() => rec.acks.length === 2);
    for (const a of rec.acks) check('ack', a);
    assert.equal(rec.acks.map((a) => a.ok), [true, false]);
  } finally {
    await up.stop();
    await ctl.close();
    journal.close();
    rmDir(dir);
  }
});

test.run();
