import type * as grpc from '@grpc/grpc-js';
import { bosService, type BosService } from '../../drivers/miner/braiins/proto';
import type { SimMachine } from './machine';

/**
 * What a Braiins OS+ miner answers besides its gRPC API, as discovery sees it:
 *  - the cgminer-style API on 4028 (BOSer serves one for old tools): `version` with
 *    "Msg":"BOSer versions" and VERSION[0].BOSer, `devdetails` with the model as
 *    "Bitmain Antminer …" (pyasic's braiins backend strips "Bitmain "), `summary`; anything
 *    else is cgminer's "Invalid command";
 *  - the web UI on 80: `GET /` a page named "Braiins OS" (what pyasic's factory matches);
 * and the gRPC services with replies that can be switched to junk (the garbage fault).
 */
export const BOSER_VERSION = 'boser-buildroot 0.1.0-0ce150e9';
/** BosVersion.current of a 24.04 BOS+ build */
export const BOS_CURRENT = '2024-05-09-0-0ce150e9-24.04-plus';

export interface CgView {
  machine: SimMachine;
  /** e.g. "Antminer S19j Pro" */
  model: string;
  elapsedS: number;
  /** unix seconds */
  when: number;
}

function status(v: CgView, s: 'S' | 'E', code: number, msg: string) {
  return [{ STATUS: s, When: v.when, Code: code, Msg: msg, Description: `BOSer ${BOSER_VERSION}` }];
}

export function cgReply(command: string, v: CgView): string {
  const mhs = v.machine.ths * 1e6;
  switch (command) {
    case 'version':
      return JSON.stringify({ STATUS: status(v, 'S', 22, 'BOSer versions'), VERSION: [{ API: '3.7', BOSer: BOSER_VERSION }], id: 1 });
    case 'devdetails':
      return JSON.stringify({
        STATUS: status(v, 'S', 69, 'Device Details'),
        DEVDETAILS: [0, 1, 2].map((i) => ({ DEVDETAILS: i, Name: `Hash Chain ${i + 1}`, ID: i + 1, Driver: '', Kernel: '', Model: `Bitmain ${v.model}`, 'Device Path': '', Chips: 126, Cores: 126 * 4 })),
        id: 1,
      });
    case 'summary':
      return JSON.stringify({
        STATUS: status(v, 'S', 11, 'Summary'),
        SUMMARY: [{ Elapsed: v.elapsedS, 'MHS av': mhs, 'MHS 5s': mhs, 'MHS 1m': mhs, 'MHS 5m': mhs, 'MHS 15m': mhs, Accepted: 100, Rejected: 0, 'Hardware Errors': 0 }],
        id: 1,
      });
    default:
      return JSON.stringify({ STATUS: status(v, 'E', 14, 'Invalid command'), id: 1 });
  }
}

/** the web UI's index page (a single-page app: the name is all a scanner reads) */
export const WEB_PAGE = '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Braiins OS</title></head><body><div id="root"></div><noscript>Braiins OS needs JavaScript enabled.</noscript></body></html>';

/** bytes that are no protobuf message: wire type 7 does not exist */
const JUNK = Buffer.from([0x0f, 0xff, 0xfe, 0x13, 0x88, 0x00]);

/** a service of the Braiins OS+ protos whose replies turn to junk while `garbage()` says so */
export function garbledService(name: BosService, garbage: () => boolean): grpc.ServiceDefinition {
  return Object.fromEntries(Object.entries(bosService(name)).map(([k, m]) => [k, { ...m, responseSerialize: (v: unknown) => (garbage() ? JUNK : m.responseSerialize(v)) }]));
}
