import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/**
 * Reading another process's footprint from Linux's /proc, as `top` and `ps` do (proc(5)).
 * Parsers are pure so tests can feed them fixed text.
 */

/** VmRSS and VmHWM (peak RSS) from /proc/PID/status, in MB. */
export function parseStatus(text: string): { rssMb: number; hwmMb: number } {
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/**
 * utime + stime (fields 14 and 15 of /proc/PID/stat, in clock ticks). The command name (field 2)
 * is in parentheses and may hold spaces, so fields are counted from the last ')'.
 */
export function parseStatTicks(text: string): number {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field n is rest[n - 3]
  return Number(rest[14 - 3]) + Number(rest[15 - 3]);
}

let ticks: number | undefined;
/** USER_HZ, the unit of utime/stime: 100 on every common Linux build, asked of getconf anyway. */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export interface ProcSample {
  /** performance.now() of the sample (ms) */
  at: number;
  rssMb: number;
  hwmMb: number;
  /** CPU time used so far (s) */
  cpuS: number;
}

/** One footprint sample of `pid`; undefined once the process is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = parseStatus(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const cpuS = parseStatTicks(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')) / clockTicks();
    return { at: performance.now(), ...status, cpuS };
  } catch {
    return undefined;
  }
}

/** CPU use between two samples, in % of one core. */
export function cpuPercent(a: ProcSample, b: ProcSample): number {
  return b.at > a.at ? (100 * (b.cpuS - a.cpuS) * 1000) / (b.at - a.at) : NaN;
}

/**
 * The machine's CPU time from /proc/stat's first line (`cpu  user nice system idle iowait irq
 * softirq steal ...`, in clock ticks, summed over every core): busy is all but idle and iowait.
 */
export function parseMachineStat(text: string): { busy: number; total: number } {
  const f = /^cpu\s+(.*)$/m.exec(text)?.[1].trim().split(/\s+/).map(Number) ?? [];
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/**
 * CPU use of groups of processes over a window, in % of one core, and of the whole machine:
 * start() then stop(). A process that exits in between counts up to its last sample.
 */
export function cpuWindow(groups: Record<string, number[]>): { stop(): { cores: number; machine: number; groups: Record<string, number> } } {
  const read = () => {
    const procs = Object.fromEntries(Object.entries(groups).map(([g, pids]) => [g, pids.map((p) => sampleProc(p)?.cpuS)]));
    let m = { busy: NaN, total: NaN };
    try { m = parseMachineStat(fs.readFileSync('/proc/stat', 'utf8')); } catch { /* not Linux */ }
    return { at: performance.now(), procs, m };
  };
  const a = read();
  return {
    stop() {
      const b = read();
      const s = (b.at - a.at) / 1000;
      const cores = (require('node:os') as typeof import('node:os')).cpus().length;
      const r = (x: number) => Math.round(x * 10) / 10;
      const out: Record<string, number> = {};
      for (const g of Object.keys(groups)) {
        let cpu = 0;
        groups[g].forEach((_, i) => {
          const x = a.procs[g][i], y = b.procs[g][i];
          if (x !== undefined && y !== undefined) cpu += y - x;
        });
        out[g] = r((100 * cpu) / s);
      }
      // machine: busy share of all cores' time, in % of one core (200 = two cores flat out)
      const machine = r((100 * cores * (b.m.busy - a.m.busy)) / (b.m.total - a.m.total));
      return { cores, machine, groups: out };
    },
  };
}
