import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * Secrets in the config (README "Secrets"): one rule for every key that holds one, inline
 * (`token: "…"`) or in a file (`token_file: PATH`, relative to the config file). The secret is
 * one line: a file's first line is read and the rest ignored, and trailing whitespace (the
 * newline `echo` adds, a CR from a Windows editor, spaces) is trimmed. It must be at least
 * SECRET_MIN_LENGTH characters: an empty token would send no Authorization header, and an empty
 * local token would key the dashboard cookie's HMAC with the empty string, a cookie anyone can
 * compute. A secret that breaks the rule is refused as `path.to.key: problem` by `config check`
 * (exit 2) and at start, never used. Every secret key goes through secretInline / secretFile in
 * the schema and readSecret when loaded; the file-mode warnings are secretFileWarnings.
 */
export const SECRET_MIN_LENGTH = 8;

/** the secret a text holds: its first line, trailing whitespace (a CR, spaces) trimmed */
export function secretLine(text: string): string {
  return text.split('\n', 1)[0].replace(/\s+$/, '');
}

/**
 * The rule on a secret as read (after secretLine): what is wrong with it, or undefined. `min` is
 * SECRET_MIN_LENGTH for the secrets we choose (tokens); a miner's password is the firmware's
 * own, whose factory default (`root`, `admin`) is short, so there only emptiness is refused.
 */
export function secretProblem(value: string, min = SECRET_MIN_LENGTH): string | undefined {
  if (value === '') return 'is empty';
  // code points, not UTF-16 units: "ü" is one character to whoever wrote the token
  if ([...value].length < min) return `must be at least ${min} characters`;
  return undefined;
}

function inlineProblem(s: string, min: number): string | undefined {
  const value = secretLine(s);
  // a YAML block scalar with a second line is a mistake, not a secret to cut short silently
  if (value !== s.replace(/\s+$/, '')) return 'must be one line';
  return secretProblem(value, min);
}

/** an inline secret key of at least `min` characters: the rule, trimmed as read */
export function secretInlineOf(min: number) {
  return z.string()
    .superRefine((s, ctx) => {
      const problem = inlineProblem(s, min);
      if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
    })
    .transform(secretLine);
}

/** an inline secret key (`token`, `client_secret`): the rule, trimmed as read */
export const secretInline = secretInlineOf(SECRET_MIN_LENGTH);

/** the file key beside it (`token_file`, …): a path, relative to the config file */
export const secretFile = z.string().min(1, 'expected a path');

/** one secret the config holds: its inline key's path (e.g. `uplink.token`) and what was given */
export interface SecretSource {
  /** the inline key's path, e.g. `uplink.token`; the file key is the same with `_file` */
  key: string;
  inline?: string;
  file?: string;
  /** fewest characters (default SECRET_MIN_LENGTH) */
  minLength?: number;
}

const keyName = (key: string) => key.slice(key.lastIndexOf('.') + 1);

/**
 * The secret a source holds by the rule, or the `path.to.key: problem` line that refuses it.
 * `value` is undefined when neither key is given; `base` is the directory relative file paths
 * start from (the config file's). Never puts the secret into a problem line.
 */
export function readSecret(src: SecretSource, base: string): { value?: string; problem?: string } {
  const name = keyName(src.key);
  const noun = name.replace(/_/g, ' ');
  if (src.inline !== undefined && src.file !== undefined) return { problem: `${src.key}: give ${name} or ${name}_file, not both` };
  if (src.inline !== undefined) {
    const problem = inlineProblem(src.inline, src.minLength ?? SECRET_MIN_LENGTH);
    return problem ? { problem: `${src.key}: ${problem}` } : { value: secretLine(src.inline) };
  }
  if (src.file === undefined) return {};
  const fileKey = `${src.key}_file`;
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(base, src.file), 'utf8');
  } catch (e) {
    return { problem: `${fileKey}: cannot read ${src.file} (${(e as NodeJS.ErrnoException).code ?? e})` };
  }
  const value = secretLine(text);
  if (value === '') {
    return { problem: text.trim() === ''
      ? `${fileKey}: ${src.file} is empty: write the ${noun} on its first line`
      : `${fileKey}: the first line of ${src.file} is empty: the ${noun} must be on the first line` };
  }
  const problem = secretProblem(value, src.minLength);
  if (problem) return { problem: `${fileKey}: the ${noun} in ${src.file} (its first line) ${problem}` };
  return { value };
}

/**
 * Warnings for secrets other local users can read or replace: a config file holding an inline
 * secret, or a secret file, whose mode lets others (not the owner, not the file's group) read
 * or write it, or lets its group write it. Readable by the group is as meant: install.sh makes
 * them root:hashflex 0640 so the service user reads what only root may change. Writable matters
 * as much as readable: whoever can edit the config can point the uplink at their own controller.
 * Returns one line per file, e.g.
 * `/etc/hashflex/agent.yaml: holds uplink.token but its mode is 0644 (readable by others); chmod 640 it`.
 * Never throws; a file that cannot be stat'ed is left to the config loader to report.
 */
export function secretFileWarnings(configPath: string, sources: SecretSource[]): string[] {
  if (process.platform === 'win32') return [];
  const base = path.dirname(path.resolve(configPath));
  const files = new Map<string, string[]>();
  const note = (file: string, what: string) => files.set(file, [...(files.get(file) ?? []), what]);
  for (const s of sources) {
    if (s.file !== undefined) note(path.resolve(base, s.file), `${s.key}_file`);
    else if (s.inline !== undefined) note(path.resolve(configPath), s.key);
  }
  const out: string[] = [];
  for (const [file, keys] of files) {
    let mode: number;
    try {
      mode = fs.statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    const why: string[] = [];
    if (mode & 0o007) why.push(`${[mode & 0o004 ? 'readable' : '', mode & 0o002 ? 'writable' : ''].filter(Boolean).join(' and ') || 'accessible'} by others`);
    if (mode & 0o020) why.push('writable by its group');
    if (!why.length) continue;
    const holds = keys.some((k) => k.endsWith('_file')) ? `is ${keys.join(' and ')}` : `holds ${keys.join(' and ')}`;
    out.push(`${file}: ${holds} but its mode is 0${mode.toString(8).padStart(3, '0')} (${why.join(', ')}); chmod 640 it`);
  }
  return out;
}
