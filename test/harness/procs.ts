import fs from 'node:fs';

/**
 * Looking for what a command left behind, through /proc (Linux): its live descendants, and any
 * process that still names a run's temp folder on its command line (socat's pty links live there).
 */

/** every live descendant of `pid` (by ppid in /proc/PID/stat), with its command name */
export function descendants(pid: number): { pid: number; comm: string }[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses, so split at the last ')'
      const close = stat.lastIndexOf(')');
      const [state, ppid] = stat.slice(close + 2).split(' ');
      if (state === 'Z') continue;
      parent.set(Number(e), Number(ppid));
      comm.set(Number(e), stat.slice(stat.indexOf('(') + 1, close));
    } catch { /* gone meanwhile */ }
  }
  const found: { pid: number; comm: string }[] = [];
  const visit = (p: number): void => {
    for (const [c, pp] of parent) if (pp === p) { found.push({ pid: c, comm: comm.get(c)! }); visit(c); }
  };
  visit(pid);
  return found;
}

/** processes whose command line mentions `text` (a run's own temp dir), this one excepted */
export function mentioning(text: string): number[] {
  const pids: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(text)) pids.push(Number(e));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

/** the process exists and is not a zombie */
export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
