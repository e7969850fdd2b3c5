import fs from 'node:fs';
import path from 'node:path';

/** the parts of a config that can hold a secret */
export interface SecretHolders {
  uplink?: { token?: string; token_file?: string };
  local?: { token?: string; token_file?: string };
}

/**
 * Warnings for secrets other local users can read or replace: a config file holding an inline
 * `token`, or a `token_file`, whose mode grants anything to group or others (as OpenSSH refuses
 * a private key with mode & 077). Writable matters as much as readable: whoever can edit the
 * config can point the uplink at their own controller. Returns one line per file, e.g.
 * `/etc/hashflex/agent.yaml: holds uplink.token but its mode is 0644 (readable by others); chmod 600 it`
 * ("by its group" when only the group bits are set).
 * Never throws; a file that cannot be stat'ed is left to the config loader to report.
 */
export function tokenFilePermissionWarnings(configPath: string, config: SecretHolders): string[] {
  if (process.platform === 'win32') return [];
  const base = path.dirname(path.resolve(configPath));
  const files = new Map<string, string[]>();
  const note = (file: string, what: string) => files.set(file, [...(files.get(file) ?? []), what]);
  for (const key of ['uplink', 'local'] as const) {
    const s = config[key];
    if (!s) continue;
    if (s.token_file) note(path.resolve(base, s.token_file), `${key}.token_file`);
    else if (s.token) note(path.resolve(configPath), `${key}.token`);
  }
  const out: string[] = [];
  for (const [file, keys] of files) {
    let mode: number;
    try {
      mode = fs.statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if ((mode & 0o077) === 0) continue;
    const what = [mode & 0o044 ? 'readable' : '', mode & 0o022 ? 'writable' : ''].filter(Boolean).join(' and ') || 'accessible';
    const who = mode & 0o007 ? 'others' : 'its group';
    const holds = keys.some((k) => k.endsWith('.token_file')) ? `is ${keys.join(' and ')}` : `holds ${keys.join(' and ')}`;
    out.push(`${file}: ${holds} but its mode is 0${mode.toString(8)} (${what} by ${who}); chmod 600 it`);
  }
  return out;
}
