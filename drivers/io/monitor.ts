/**
 * A counting scanner for the board -> agent Firmata stream. firmata.js parses the same bytes and
 * silently drops what it cannot use; this scanner only tells whether the stream is healthy, so
 * the driver can call a board that sends garbage (wrong baud, wrong sketch, noise) a fault.
 *
 * Valid frames (Firmata protocol 2.6, "Message types"):
 *   0x90|port lsb msb        digital I/O message
 *   0xE0|chan lsb msb        analog I/O message
 *   0xF9 major minor         protocol version
 *   0xF0 ... 0xF7            sysex (data bytes < 0x80 only)
 * Every other byte, and every frame cut short by a status byte, counts as garbage.
 */
const MAX_SYSEX = 1024; // capability replies of a 70-pin Mega are ~350 bytes

export class FirmataStreamMonitor {
  /** complete, well-formed frames seen */
  frames = 0;
  /** bytes that belong to no valid frame */
  garbage = 0;
  /** times a partial frame was abandoned */
  resyncs = 0;

  private need = 0; // data bytes still expected by a 3-byte message
  private pending = 0; // bytes of the current partial frame
  private inSysex = false;

  /** feed bytes; returns the number of complete frames in this chunk */
  feed(chunk: Uint8Array): number {
    const before = this.frames;
    for (const b of chunk) {
      if (b & 0x80) this.status(b);
      else this.data();
    }
    return this.frames - before;
  }

  private status(b: number): void {
    if (this.inSysex && b === 0xf7) {
      this.inSysex = false;
      this.pending = 0;
      this.frames++;
      return;
    }
    if (this.inSysex || this.need > 0) this.abandon();
    const hi = b & 0xf0;
    if (hi === 0x90 || hi === 0xe0 || b === 0xf9) {
      this.need = 2;
      this.pending = 1;
    } else if (b === 0xf0) {
      this.inSysex = true;
      this.pending = 1;
    } else {
      this.garbage++;
    }
  }

  private data(): void {
    if (this.inSysex) {
      if (++this.pending > MAX_SYSEX) this.abandon();
      return;
    }
    if (this.need === 0) {
      this.garbage++;
      return;
    }
    this.pending++;
    if (--this.need === 0) {
      this.pending = 0;
      this.frames++;
    }
  }

  private abandon(): void {
    this.garbage += this.pending;
    this.pending = 0;
    this.need = 0;
    this.inSysex = false;
    this.resyncs++;
  }
}
