import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HashflexError } from '../errors';
import { hashOf, parseLine, type ParsedLine } from './record';

/**
 * The append-only ledger file. Each record is one line written with a single write and made
 * durable with fdatasync before the next; a write that fails is cut back off so a later
 * append never lands after half a line. After a crash the file may end in a torn line: open()
 * moves those bytes to `FILE.torn` (kept for inspection) and truncates to the last whole
 * record, and says so, so the next record can record it.
 */
export const LEDGER_FILE = 'ledger.jsonl';
const CHUNK = 64 * 1024;

export interface OpenedLedger {
  file: LedgerFile;
  /** the last whole record, if any */
  last?: ParsedLine;
  /** bytes of a torn last line that were moved aside, 0 if none */
  tornBytes: number;
  tornFile?: string;
}

/** byte offset just after the last '\n' in the file (0 if none), reading backwards in chunks */
function lastNewline(fd: number, size: number): number {
  const buf = Buffer.alloc(CHUNK);
  for (let end = size; end > 0; end -= CHUNK) {
    const start = Math.max(0, end - CHUNK);
    const n = fs.readSync(fd, buf, 0, end - start, start);
    const i = buf.subarray(0, n).lastIndexOf(0x0a);
    if (i >= 0) return start + i + 1;
  }
  return 0;
}

function readRange(fd: number, start: number, end: number): Buffer {
  const buf = Buffer.alloc(end - start);
  fs.readSync(fd, buf, 0, buf.length, start);
  return buf;
}

export class LedgerFile {
  private size: number;
  private chain: Promise<void> = Promise.resolve();

  private constructor(readonly path: string, private readonly fh: fs.promises.FileHandle, size: number) {
    this.size = size;
  }

  /** open (creating) the ledger, repairing a torn tail; throws if the last whole record is damaged */
  static async open(file: string): Promise<OpenedLedger> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    let last: ParsedLine | undefined;
    let tornBytes = 0;
    let tornFile: string | undefined;
    let size: number;
    try {
      size = fs.fstatSync(fd).size;
      const whole = lastNewline(fd, size);
      if (whole < size) {
        tornBytes = size - whole;
        tornFile = `${file}.torn`;
        fs.appendFileSync(tornFile, Buffer.concat([readRange(fd, whole, size), Buffer.from('\n')]));
        fs.ftruncateSync(fd, whole);
        fs.fsyncSync(fd);
        size = whole;
      }
      if (size > 0) {
        const before = lastNewline(fd, size - 1);
        const line = readRange(fd, before, size - 1).toString('utf8');
        const p = parseLine(line);
        if (typeof p === 'string' || hashOf(p.body) !== p.hash) {
          throw new HashflexError(`${file}: the last record is damaged (${typeof p === 'string' ? p : 'hash mismatch'}); ` +
            'run `hashflex ledger verify` and move the file aside before restarting', ErrorCode.FrameInvalid);
        }
        last = p;
      }
    } finally {
      fs.closeSync(fd);
    }
    const fh = await fs.promises.open(file, 'a');
    return { file: new LedgerFile(file, fh, size), last, tornBytes, tornFile };
  }

  /** append one line durably; serialized with other appends */
  append(line: string): Promise<void> {
    const run = this.chain.then(() => this.write(Buffer.from(line, 'utf8')));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async write(bytes: Buffer): Promise<void> {
    try {
      let off = 0;
      while (off < bytes.length) off += (await this.fh.write(bytes, off, bytes.length - off)).bytesWritten;
      await this.fh.datasync();
      this.size += bytes.length;
    } catch (e) {
      // never leave half a line for the next append to follow
      await this.fh.truncate(this.size).catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.chain;
    await this.fh.close();
  }
}
