/**
 * Hash-rate estimates. A nonce at share difficulty D stands for D·2^32 hashes on average; the
 * chips' total-count register (0x8C) counts difficulty-1 shares, i.e. 2^32 hashes per step
 * (ESP-Miner hashrate_monitor_task.c `HASH_CNT_LSB 0x100000000`).
 */
const TWO32 = 2 ** 32;

/** nonces seen in a sliding window, as GH/s */
export class NonceRate {
  private times: number[] = [];

  constructor(private readonly windowMs = 10_000) {}

  add(at: number): void {
    this.times.push(at);
    if (this.times.length > 4096) this.times.splice(0, this.times.length - 4096);
  }

  ghs(now: number, difficulty: number, since: number): number {
    const from = Math.max(now - this.windowMs, since);
    while (this.times.length && this.times[0] < from) this.times.shift();
    const span = now - from;
    return span > 0 ? (this.times.length * difficulty * TWO32) / (span / 1000) / 1e9 : 0;
  }

  clear(): void {
    this.times = [];
  }
}

/** per-chip 32-bit counter deltas between two polls, as GH/s */
export class CounterRate {
  private last = new Map<number, number>();
  private lastAt = 0;
  ghs = 0;

  update(at: number, byChip: Array<{ addr: number; value: number }>): void {
    let shares = 0;
    let seen = 0;
    for (const { addr, value } of byChip) {
      const prev = this.last.get(addr);
      if (prev !== undefined) {
        shares += (value - prev + TWO32) % TWO32;
        seen++;
      }
      this.last.set(addr, value);
    }
    if (seen && at > this.lastAt && this.lastAt > 0) this.ghs = (shares * TWO32) / ((at - this.lastAt) / 1000) / 1e9;
    this.lastAt = at;
  }

  clear(): void {
    this.last.clear();
    this.lastAt = 0;
    this.ghs = 0;
  }
}
