import { clock } from './svg';

/**
 * Progress of a time-leap run on stderr. On a terminal, one bar redrawn in place (at most ten
 * times a second); otherwise a plain line every 10 %, so CI logs stay short.
 */
export class Progress {
  private lastDraw = 0;
  private lastDecile = -1;
  private readonly wall0 = Date.now();
  constructor(private readonly totalS: number, private readonly out: NodeJS.WriteStream = process.stderr) {}

  update(tS: number, status = ''): void {
    const share = Math.min(1, tS / this.totalS);
    const tty = this.out.isTTY;
    if (tty) {
      const now = Date.now();
      if (now - this.lastDraw < 100 && share < 1) return;
      this.lastDraw = now;
      this.out.write(`\r\x1b[2K${this.line(tS, share, status, Math.max(10, Math.min(40, (this.out.columns ?? 100) - 90)))}`);
    } else {
      const decile = Math.floor(share * 10);
      if (decile === this.lastDecile) return;
      this.lastDecile = decile;
      this.out.write(`${this.line(tS, share, status, 20)}\n`);
    }
  }

  done(): void {
    if (this.out.isTTY) this.out.write('\n');
  }

  private line(tS: number, share: number, status: string, width: number): string {
    const filled = Math.round(share * width);
    const wallS = (Date.now() - this.wall0) / 1000;
    const pace = wallS > 0.05 ? `×${Math.round(tS / wallS)}` : '';
    return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${(share * 100).toFixed(0).padStart(3)} %  ${clock(tS, true)} / ${clock(this.totalS, true)}  ${pace.padEnd(7)} ${status}`;
  }
}
