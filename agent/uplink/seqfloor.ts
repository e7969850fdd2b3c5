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

/**
 * The unjournaled-seq mark (`seq.unjournaled`): a number at least as high as any seq that went
 * out from memory because the journal could not store its frame (a full or failing SD card).
 * SQLite's counter never saw those seqs, so the journal starts above this mark at the next open:
 * seq stays strictly increasing across restarts even for frames that were never journaled.
 *
 * It is written when the disk is full, so it never needs a new block: the file is made at open
 * with a fixed-width number (one block, fsync'd) and later overwritten in place (pwrite +
 * fdatasync), which a full ext4 accepts. It moves ahead by BLOCK, so a failing disk costs one
 * synchronous write per BLOCK frames. A file that cannot be parsed (a torn write) reads as
 * `unreadable`: the journal then falls back on the seq reservation, which covers it too.
 */
const MARK_WIDTH = 20;

export class SeqMark {
  private mark = 0;
  /** the file exists but does not hold a number */
  readonly unreadable: boolean = false;
  /** writes of the mark that failed (the disk refused even an in-place write) */
  errors = 0;

  constructor(private readonly file: string) {
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      text = undefined;
    }
    if (text === undefined) {
      // made now, while there is room, so that later writes are in place
      try {
        this.write(0, 'wx');
      } catch {
        this.errors++;
      }
      return;
    }
    const n = Number(text.trim());
    if (Number.isSafeInteger(n) && n >= 0) this.mark = n;
    else this.unreadable = true;
  }

  get value(): number {
    return this.mark;
  }

  /** make sure the mark covers `seq` (synchronously: before that frame is sent); false if it could not be written */
  cover(seq: number): boolean {
    if (this.mark >= seq) return true;
    const n = seq + BLOCK;
    try {
      this.write(n, 'r+');
    } catch {
      try {
        this.write(n, 'w'); // no file yet (it could not be made at open): try to make it now
      } catch {
        this.errors++;
        return false;
      }
    }
    this.mark = n;
    return true;
  }

  private write(n: number, flag: 'wx' | 'r+' | 'w'): void {
    const fd = fs.openSync(this.file, flag, 0o644);
    try {
      const text = `${String(n).padStart(MARK_WIDTH, ' ')}\n`;
      fs.writeSync(fd, text, 0, 'utf8');
      fs.fdatasyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
