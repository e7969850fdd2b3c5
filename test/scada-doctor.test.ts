import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { validateConfig } from '../agent/config';
import { checkScada } from '../agent/doctor/scada';
import type { DoctorContext } from '../agent/doctor/types';

/** `hashflex doctor`'s scada check: the server answers on its own address, or the cause is named. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function ctx(scada?: Record<string, unknown>): DoctorContext {
  const config = validateConfig({
    agent: { id: 'doc' }, meter: { tcp: '127.0.0.1:502' }, boards: [{ id: 'hb0', serial: { path: '/dev/null' } }], ...(scada ? { scada } : {}),
  });
  return { config } as DoctorContext;
}

test('The scada check binds scada.listen and reads the map version back over Modbus TCP from the board', async () => {
  const port = await freePort();
  const [r] = await checkScada(ctx({ listen: `127.0.0.1:${port}`, unit: 3 }));
  assert.is(r.status, 'pass', JSON.stringify(r));
  assert.match(r.detail, new RegExp(`127\\.0\\.0\\.1:${port} answers Modbus TCP \\(unit 3, map version 1, writes enabled\\)`));
  assert.ok(await new Promise((res) => { const s = net.connect(port, '127.0.0.1'); s.on('error', () => res(true)); s.on('connect', () => { s.destroy(); res(false); }); }), 'the port is free again');
});

test('A wildcard listen is probed through loopback; an allow list without loopback is pointed out, not failed', async () => {
  const port = await freePort();
  const [r] = await checkScada(ctx({ listen: `0.0.0.0:${port}`, allow: ['10.0.4.20/32'], write: false }));
  assert.is(r.status, 'pass', JSON.stringify(r));
  assert.match(r.detail, /writes refused/);
  assert.match(r.detail, /scada\.allow does not include 127\.0\.0\.1/);
});

test('A port already taken (the agent service still running) fails with what to do', async () => {
  const port = await freePort();
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', () => r()));
  try {
    const [r] = await checkScada(ctx({ listen: `127.0.0.1:${port}` }));
    assert.is(r.status, 'fail');
    assert.match(r.detail, /EADDRINUSE/);
    assert.match(r.hint ?? '', /systemctl stop hashflex/);
  } finally {
    await new Promise<void>((r) => squatter.close(() => r()));
  }
});

test('An address this board does not have fails naming it', async () => {
  const [r] = await checkScada(ctx({ listen: '192.0.2.77:1502', allow: ['192.0.2.0/24'] }));
  assert.is(r.status, 'fail');
  assert.match(r.detail, /EADDRNOTAVAIL/);
  assert.match(r.hint ?? '', /192\.0\.2\.77 is not an address of this board/);
});

test('No scada section: no line', async () => {
  assert.equal(await checkScada(ctx()), []);
});

test.run();
