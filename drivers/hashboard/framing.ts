import { RESPONSE_LEN, TYPE_CMD, TYPE_JOB, responseCrcOk } from './codec';

/**
 * Splits a byte stream into frames that start with a two-byte preamble, resynchronising on
 * garbage: bytes before a preamble are dropped and counted once per run as a resync, a frame
 * whose check fails is counted as a CRC error and scanning restarts one byte after its start
 * (the preamble may have been a false match inside garbage). Never throws on any input.
 */
export interface SplitterStats {
  frames: number;
  crcErrors: number;
  resyncs: number;
}

export interface SplitterOptions {
  preamble: readonly [number, number];
  /** total frame length from the bytes so far (≥ 4 available), or -1 if the header is impossible */
  lengthOf(buf: Buffer): number;
  check(frame: Buffer): boolean;
  /** bound on buffered bytes: beyond it the oldest are dropped as garbage */
  maxBuffer?: number;
}

export class FrameSplitter {
  readonly stats: SplitterStats = { frames: 0, crcErrors: 0, resyncs: 0 };
  private buf: Buffer = Buffer.alloc(0);
  /** after a failed frame the bytes that follow are part of it, not a fresh resync */
  private recovering = false;

  constructor(private readonly opts: SplitterOptions, private readonly onFrame: (f: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const [p0, p1] = this.opts.preamble;
    for (;;) {
      let i = 0;
      while (i < this.buf.length && !(this.buf[i] === p0 && (i + 1 >= this.buf.length || this.buf[i + 1] === p1))) i++;
      if (i > 0) {
        if (!this.recovering) this.stats.resyncs++;
        this.buf = this.buf.subarray(i);
      }
      if (this.buf.length < 4) break;
      const len = this.opts.lengthOf(this.buf);
      if (len < 0) { this.skip(); continue; }
      if (this.buf.length < len) break;
      const frame = this.buf.subarray(0, len);
      if (!this.opts.check(frame)) { this.fail(); continue; }
      this.stats.frames++;
      this.recovering = false;
      this.buf = this.buf.subarray(len);
      try {
        this.onFrame(Buffer.from(frame));
      } catch {
        /* a consumer bug must not wedge the stream; the frame was counted */
      }
    }
    const max = this.opts.maxBuffer ?? 4096;
    if (this.buf.length > max) this.buf = this.buf.subarray(this.buf.length - max);
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
  }

  /** forget a partial frame (after the link was reopened) */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.recovering = false;
  }

  private skip(): void {
    if (!this.recovering) this.stats.resyncs++;
    this.recovering = true;
    this.buf = this.buf.subarray(1);
  }

  private fail(): void {
    this.stats.crcErrors++;
    this.recovering = true;
    this.buf = this.buf.subarray(1);
  }
}

/** chip -> host: fixed 11-byte responses AA 55 … */
export function responseSplitter(onFrame: (f: Buffer) => void): FrameSplitter {
  return new FrameSplitter({ preamble: [0xaa, 0x55], lengthOf: () => RESPONSE_LEN, check: responseCrcOk }, onFrame);
}

/**
 * host -> chip: 55 AA hdr len …, total length len + 2. A header must be a command (0x4x/0x5x)
 * or a job (0x2x/0x3x) and len within what the firmware sends (5..0x60), else it is garbage.
 */
export function commandSplitter(check: (f: Buffer) => boolean, onFrame: (f: Buffer) => void): FrameSplitter {
  return new FrameSplitter({
    preamble: [0x55, 0xaa],
    lengthOf: (b) => {
      const type = b[2] & 0xe0;
      if ((type !== TYPE_CMD && type !== TYPE_JOB) || b[3] < 5 || b[3] > 0x60) return -1;
      return b[3] + 2;
    },
    check,
  }, onFrame);
}
