import fs from 'node:fs';

/**
 * A seq reservation kept beside the journal (hi/lo allocation): the file holds a number that no
 * assigned seq has exceeded. It is only read when journal.db has lost its own counter (the file
 * was corrupt and set aside, or deleted), so that seq stays strictly increasing across restarts
 * even then; a normal restart continues from SQLite's counter without a gap.
 *
 * The reservation is moved ahead by BLOCK well before it is reached, written to a temp file,
 * fsync'd and renamed (atomic on POSIX), off the event loop; only the first write at open is
 * synchronous.
 */
const BLOCK = 10_000;

export class SeqFloor {
  private reserved: number;
  private writing = false;

  constructor(private readonly file: string) {
    this.reserved = SeqFloor.read(file);
  }

  /** the reserved value on disk, 0 if missing or unreadable */
  static read(file: string): number {
    try {
      const n = Number(fs.readFileSync(file, 'utf8').trim());
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  get value(): number {
    return this.reserved;
  }

  /** at open: make sure the reservation covers `seq` plus a block, synchronously */
  ensureSync(seq: number): void {
    if (this.reserved >= seq + BLOCK / 2) return;
    const n = seq + BLOCK;
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, `${n}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    this.reserved = n;
  }

  /** after an append: move the reservation ahead in the background when half of it is used */
  advance(seq: number, onError: (e: Error) => void): void {
    if (this.writing || this.reserved >= seq + BLOCK / 2) return;
    const n = seq + BLOCK;
    const tmp = `${this.file}.tmp`;
    this.writing = true;
    void (async () => {
      const fh = await fs.promises.open(tmp, 'w');
      try {
        await fh.writeFile(`${n}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, this.file);
      this.reserved = Math.max(this.reserved, n);
    })().catch(onError).finally(() => { this.writing = false; });
  }
}
