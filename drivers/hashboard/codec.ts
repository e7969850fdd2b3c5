import { crc16False, crc5, crc5Bits } from './crc';
import type { ModelSpec } from './models';

/**
 * BM13xx-family UART frames as pure functions. Layout and constants from bitaxeorg/ESP-Miner
 * components/asic/bm1366.c (`_send_BM1366`, `bm1366_asic_result_t`) and common.c:
 *
 *   command  55 AA | hdr | len = data+3 | data… | crc5(hdr,len,data)
 *   job      55 AA | hdr | len = data+4 | data… | crc16-ccitt-false(hdr,len,data), big-endian
 *   response AA 55 | 8 payload bytes | flags(3 high bits) + crc5(5 low bits)
 *     register reply: value(4, BE) | chip address | register | 2 unused
 *     nonce reply:    nonce(4) | midstate | job id | version(2, BE), flag bit 7 set
 */
export const TYPE_JOB = 0x20;
export const TYPE_CMD = 0x40;
export const GROUP_ALL = 0x10;
export const CMD_SETADDRESS = 0x00;
export const CMD_WRITE = 0x01;
export const CMD_READ = 0x02;
export const CMD_INACTIVE = 0x03;

/** registers (bm1366.c REGISTER_MAP, bm1370.c defines) */
export const REG_CHIP_ID = 0x00;
export const REG_PLL0 = 0x08;
export const REG_HASH_COUNTING = 0x10;
export const REG_TICKET_MASK = 0x14;
export const REG_MISC_CONTROL = 0x18;
export const REG_ERROR_COUNT = 0x4c;
export const REG_DOMAIN0_COUNT = 0x88;
export const REG_TOTAL_COUNT = 0x8c;

/** the PLL reference crystal on every BM13xx board (ESP-Miner `FREQ_MULT 25.0`) */
export const REF_MHZ = 25;
export const RESPONSE_LEN = 11;
export const CMD_PREAMBLE = [0x55, 0xaa] as const;
export const RESP_PREAMBLE = [0xaa, 0x55] as const;

export function commandFrame(header: number, data: ArrayLike<number>): Buffer {
  const f = Buffer.alloc(data.length + 5);
  f[0] = 0x55; f[1] = 0xaa; f[2] = header; f[3] = data.length + 3;
  f.set(Array.from(data), 4);
  f[f.length - 1] = crc5(f.subarray(2, f.length - 1));
  return f;
}

export function jobFrame(data: ArrayLike<number>): Buffer {
  const f = Buffer.alloc(data.length + 6);
  f[0] = 0x55; f[1] = 0xaa; f[2] = TYPE_JOB | CMD_WRITE; f[3] = data.length + 4;
  f.set(Array.from(data), 4);
  f.writeUInt16BE(crc16False(f.subarray(2, f.length - 2)), f.length - 2);
  return f;
}

/** 55 AA 52 05 00 00 0A: every chip answers with its chip id */
export const readChipId = (): Buffer => readReg(REG_CHIP_ID);
/** 55 AA 53 05 00 00 03: all chips stop (and the next set-address goes to the first chip) */
export const chainInactive = (): Buffer => commandFrame(TYPE_CMD | GROUP_ALL | CMD_INACTIVE, [0, 0]);
/** 55 AA 40 05 AA 00 crc: give the next unaddressed chip address AA */
export const setAddress = (addr: number): Buffer => commandFrame(TYPE_CMD | CMD_SETADDRESS, [addr & 0xff, 0]);

/** read a register from all chips, or from the chip at `addr` */
export function readReg(reg: number, addr?: number): Buffer {
  return addr === undefined
    ? commandFrame(TYPE_CMD | GROUP_ALL | CMD_READ, [0, reg])
    : commandFrame(TYPE_CMD | CMD_READ, [addr, reg]);
}

/** write a 32-bit register on all chips, or on the chip at `addr` */
export function writeReg(reg: number, value: number, addr?: number): Buffer {
  const v = value >>> 0;
  const data = [addr ?? 0, reg, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return commandFrame(TYPE_CMD | (addr === undefined ? GROUP_ALL : 0) | CMD_WRITE, data);
}

export interface PllSetting {
  fbDiv: number;
  refDiv: number;
  postDiv1: number;
  postDiv2: number;
  /** the frequency these dividers actually give */
  mhz: number;
  /** register 0x08 value: vdo_scale | fb | ref | (pd1-1)<<4 | (pd2-1) */
  value: number;
}

/**
 * Dividers for `target` MHz from the 25 MHz reference, as ESP-Miner components/asic/pll.c:
 * closest frequency, then lowest VCO, then lowest post-divider product; postdiv1 > postdiv2.
 * vdo_scale 0x50 when the VCO runs at 2400 MHz or more, else 0x40.
 */
export function pllFor(target: number, spec: Pick<ModelSpec, 'fbDivMin' | 'fbDivMax'>): PllSetting {
  let best: PllSetting | undefined;
  let bestDiff = Infinity;
  let bestVco = Infinity;
  for (let refDiv = 2; refDiv > 0; refDiv--) {
    for (let postDiv1 = 7; postDiv1 > 0; postDiv1--) {
      for (let postDiv2 = 7; postDiv2 > 0; postDiv2--) {
        if (postDiv1 <= postDiv2) continue;
        const div = refDiv * postDiv1 * postDiv2;
        const fbDiv = Math.round((target / REF_MHZ) * div);
        if (fbDiv < spec.fbDivMin || fbDiv > spec.fbDivMax) continue;
        const mhz = (REF_MHZ * fbDiv) / div;
        const diff = Math.abs(target - mhz);
        const vco = (REF_MHZ * fbDiv) / refDiv;
        const eq = (a: number, b: number) => Math.abs(a - b) < 1e-4;
        if (diff < bestDiff - 1e-4 || (eq(diff, bestDiff) && (vco < bestVco - 1e-4
          || (eq(vco, bestVco) && postDiv1 * postDiv2 < best!.postDiv1 * best!.postDiv2)))) {
          const vdo = vco >= 2400 ? 0x50 : 0x40;
          const value = ((vdo << 24) | (fbDiv << 16) | (refDiv << 8) | ((postDiv1 - 1) << 4) | (postDiv2 - 1)) >>> 0;
          best = { fbDiv, refDiv, postDiv1, postDiv2, mhz, value };
          bestDiff = diff;
          bestVco = vco;
        }
      }
    }
  }
  if (!best) throw new RangeError(`no PLL setting for ${target} MHz`);
  return best;
}

/** frequency a register 0x08 value gives (0 if the dividers are invalid) */
export function pllMhz(value: number): number {
  const fb = (value >>> 16) & 0xff;
  const ref = (value >>> 8) & 0xff;
  const pd1 = ((value >>> 4) & 0x0f) + 1;
  const pd2 = (value & 0x0f) + 1;
  return ref && fb ? (REF_MHZ * fb) / (ref * pd1 * pd2) : 0;
}

const reverse8 = (b: number): number => {
  let r = 0;
  for (let i = 0; i < 8; i++) r = (r << 1) | ((b >> i) & 1);
  return r;
};

/**
 * Ticket mask register 0x14 for a share difficulty, as ESP-Miner get_difficulty_mask: largest
 * power of two ≤ difficulty, minus one, each byte bit-reversed, least significant byte last.
 * 256 -> 00 00 00 FF.
 */
export function ticketMask(difficulty: number): number {
  const d = 2 ** Math.floor(Math.log2(Math.max(1, difficulty))) - 1;
  let v = 0;
  for (let i = 0; i < 4; i++) v |= reverse8((d >>> (8 * i)) & 0xff) << (8 * i);
  return v >>> 0;
}

export function difficultyOfMask(mask: number): number {
  let d = 0;
  for (let i = 0; i < 4; i++) d |= reverse8((mask >>> (8 * i)) & 0xff) << (8 * i);
  return (d >>> 0) + 1;
}

export interface Job {
  jobId: number;
  startingNonce: number;
  nbits: number;
  ntime: number;
  merkleRoot: Uint8Array;
  prevHash: Uint8Array;
  version: number;
}

/** BM1366_job: id, midstates=1, starting nonce, nbits, ntime, merkle root, prev hash, version (LE) */
export function workFrame(job: Job): Buffer {
  const d = Buffer.alloc(82);
  d[0] = job.jobId & 0xff;
  d[1] = 1;
  d.writeUInt32LE(job.startingNonce >>> 0, 2);
  d.writeUInt32LE(job.nbits >>> 0, 6);
  d.writeUInt32LE(job.ntime >>> 0, 10);
  d.set(job.merkleRoot.subarray(0, 32), 14);
  d.set(job.prevHash.subarray(0, 32), 46);
  d.writeUInt32LE(job.version >>> 0, 78);
  return jobFrame(d);
}

export type Response =
  | { kind: 'reg'; value: number; addr: number; reg: number }
  | { kind: 'nonce'; nonce: number; midstate: number; jobId: number; version: number; chipAddr: number };

function sealResponse(f: Buffer, flags: number): Buffer {
  // the CRC covers payload bytes and the three flag bits, and fills the last five bits
  f[10] = flags & 0xe0;
  f[10] |= crc5Bits(f.subarray(2), 8 * 8 + 3);
  return f;
}

export function regResponse(value: number, addr: number, reg: number): Buffer {
  const f = Buffer.alloc(RESPONSE_LEN);
  f[0] = 0xaa; f[1] = 0x55;
  f.writeUInt32BE(value >>> 0, 2);
  f[6] = addr & 0xff; f[7] = reg & 0xff;
  return sealResponse(f, 0);
}

/** chip address sits in nonce bits 17..24 (bm1366.c BM1366_process_work), core id above */
export function nonceResponse(nonce: number, jobId: number, version = 0, midstate = 0): Buffer {
  const f = Buffer.alloc(RESPONSE_LEN);
  f[0] = 0xaa; f[1] = 0x55;
  f.writeUInt32BE(nonce >>> 0, 2);
  f[6] = midstate & 0xff; f[7] = jobId & 0xff;
  f.writeUInt16BE(version & 0xffff, 8);
  return sealResponse(f, 0x80);
}

/** a whole response frame passes when the CRC5 over everything after the preamble is 0 */
export function responseCrcOk(f: Uint8Array): boolean {
  return f.length === RESPONSE_LEN && crc5(f.subarray(2, RESPONSE_LEN)) === 0;
}

/** decode an 11-byte response whose preamble and CRC were already checked */
export function decodeResponse(f: Uint8Array): Response {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  if (b[10] & 0x80) {
    const nonce = b.readUInt32BE(2);
    return { kind: 'nonce', nonce, midstate: b[6], jobId: b[7], version: b.readUInt16BE(8), chipAddr: (nonce >>> 17) & 0xff };
  }
  return { kind: 'reg', value: b.readUInt32BE(2), addr: b[6], reg: b[7] };
}

export interface Command {
  header: number;
  data: Buffer;
  job: boolean;
}

/** check a whole command or job frame (preamble included); undefined when its CRC fails */
export function decodeCommand(f: Uint8Array): Command | undefined {
  const b = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  const job = (b[2] & TYPE_JOB) !== 0;
  if (job) {
    if (crc16False(b.subarray(2, b.length - 2)) !== b.readUInt16BE(b.length - 2)) return undefined;
    return { header: b[2], data: b.subarray(4, b.length - 2), job };
  }
  if (crc5(b.subarray(2, b.length - 1)) !== b[b.length - 1]) return undefined;
  return { header: b[2], data: b.subarray(4, b.length - 1), job };
}
