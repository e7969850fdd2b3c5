import type Firmata from 'firmata';

/** Firmata protocol 2.6, "Message types": digital I/O message, 0x90|port, bits 0-6, bit 7 */
const DIGITAL_MESSAGE = 0x90;

/**
 * The boards' power-enable lines as the I/O board writes them: the level wanted of each line,
 * and the digital message (a whole 8-pin port) that puts a port's lines at those levels. A trip
 * is one message per port, whatever the number of boards on it.
 */
export class EnableLines {
  private readonly wanted = new Map<string, boolean>();
  /** enable lines by I/O port (pin >> 3) */
  private readonly byPort = new Map<number, { id: string; pin: number }[]>();

  constructor(enable: Record<string, number>, private readonly relayPin?: number) {
    for (const [id, pin] of Object.entries(enable)) {
      this.wanted.set(id, false);
      const lines = this.byPort.get(pin >> 3) ?? [];
      lines.push({ id, pin });
      this.byPort.set(pin >> 3, lines);
    }
  }

  /** the ports holding enable lines */
  get ports(): IterableIterator<number> {
    return this.byPort.keys();
  }

  get portCount(): number {
    return this.byPort.size;
  }

  /** record the level wanted of one board's line; its port, or undefined for a board without one */
  want(id: string, on: boolean): number | undefined {
    if (!this.wanted.has(id)) return undefined;
    this.wanted.set(id, on);
    for (const [port, lines] of this.byPort) if (lines.some((l) => l.id === id)) return port;
    return undefined;
  }

  wantAllLow(): void {
    for (const id of this.wanted.keys()) this.wanted.set(id, false);
  }

  /** a line on this port is wanted high */
  wantsHigh(port: number): boolean {
    return (this.byPort.get(port) ?? []).some((l) => this.wanted.get(l.id) === true);
  }

  /**
   * The digital message for one port: its enable lines as wanted (all low unless `highAllowed`),
   * its other bits from firmata.js's port image, which is kept in step. That image holds the
   * last level READ on the port's inputs, and StandardFirmata 2.5 turns on the pull-up of an
   * INPUT pin written 1 (digitalWriteCallback), which would latch an active-high relay input
   * "active" for good. So the relay's bit is cleared: 0 on a non-output pin is ignored by the
   * firmware, as are PWM pins (fans) in the port.
   */
  message(io: Firmata, port: number, highAllowed: boolean): Buffer {
    let image = io.ports[port] ?? 0;
    if (this.relayPin !== undefined && this.relayPin >> 3 === port) image &= ~(1 << (this.relayPin & 7));
    for (const { id, pin } of this.byPort.get(port) ?? []) {
      const high = highAllowed && this.wanted.get(id) === true;
      image = high ? image | (1 << (pin & 7)) : image & ~(1 << (pin & 7));
      const rec = io.pins[pin];
      if (rec) rec.value = high ? 1 : 0;
    }
    io.ports[port] = image;
    return Buffer.from([DIGITAL_MESSAGE | port, image & 0x7f, (image >> 7) & 0x7f]);
  }
}
