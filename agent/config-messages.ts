import { z } from 'zod';

/**
 * What a config problem says (agent/config.ts turns each into one `path.to.key: what is wrong`
 * line): what is allowed at the key, read from the schema itself so it cannot drift from it —
 * the choices of an enum or a literal union, a number's bounds with the unit its key name
 * carries (`_ms`, `_kw`, `_hz`, `_c`, …), a string's form — and, for an unknown key, the
 * nearest key allowed at that place (a typo) or else the keys that are.
 *
 * A value is echoed back only where the schema wants a number, a boolean or one of a few
 * names: never where it wants a string, which could be a secret.
 */

type Path = (string | number)[];
export interface Problem {
  path: Path;
  message: string;
}

/** the problem lines for one zod issue: usually one; an unknown key each its own */
export function issueProblems(issue: z.ZodIssue, root: z.ZodTypeAny, doc: unknown): Problem[] {
  const at = (message: string): Problem[] => [{ path: issue.path, message }];
  const schemas = schemasAt(root, issue.path);
  const value = valueAt(doc, issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => unknownKey(issue.path, k, objectKeys(schemas)));
    case 'invalid_type': {
      if (issue.received === 'undefined') return at('is required');
      const what = allowed(schemas, unitOf(issue.path));
      if (issue.expected === 'integer') return at(`expected ${what ?? 'a whole number'}, got ${show(value)}`);
      return at(`expected ${what ?? issue.expected}, got ${echoes(schemas) ? show(value) : typeName(value)}`);
    }
    case 'invalid_enum_value': {
      const got = typeof issue.received === 'string' ? issue.received : String(issue.received);
      const near = nearest(got, issue.options.map(String));
      return at(`expected one of ${issue.options.map((o) => JSON.stringify(o)).join(', ')}, got ${show(issue.received)}${near ? `; did you mean "${near}"?` : ''}`);
    }
    case 'invalid_literal':
      return at(`must be ${JSON.stringify(issue.expected)}, got ${show(value)}`);
    case 'invalid_union': {
      const out: Problem[] = [];
      if (!isCustom(issue)) {
        const what = allowed(schemas);
        out.push({ path: issue.path, message: what ? `must be ${what}, got ${echoes(schemas) ? show(value) : typeName(value)}` : issue.message });
      } else out.push({ path: issue.path, message: issue.message });
      // keys none of the shapes has: a typo says which it meant (`io: { pth: … }`)
      const keys = objectKeys(schemas);
      if (keys.length && isPlainObject(value)) {
        for (const k of Object.keys(value)) if (!keys.includes(k)) out.push(unknownKey(issue.path, k, keys));
      }
      return out;
    }
    case 'too_small':
    case 'too_big':
      if (isCustom(issue)) return at(issue.message);
      return at(sizeProblem(issue, schemas, value));
    default:
      return at(issue.message);
  }
}

/** `control.mdoe: unknown key; did you mean "mode"?`, or the keys allowed there */
function unknownKey(parent: Path, key: string, known: string[]): Problem {
  const near = nearest(key, known);
  const hint = near ? `; did you mean "${near}"?` : known.length ? ` (allowed here: ${known.join(', ')})` : '';
  // a key that is not a plain name stays quoted in the message, so the line stays one line
  if (/^[A-Za-z0-9_-]{1,64}$/.test(key)) return { path: [...parent, key], message: `unknown key${hint}` };
  return { path: parent, message: `unknown key ${JSON.stringify(key)}${hint}` };
}

function sizeProblem(issue: Extract<z.ZodIssue, { code: 'too_small' | 'too_big' }>, schemas: z.ZodTypeAny[], value: unknown): string {
  const small = issue.code === 'too_small';
  const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
  switch (issue.type) {
    case 'number': {
      const n = schemas.find((s) => s._def.typeName === 'ZodNumber');
      const range = n ? numberRange(n, unitOf(issue.path)) : `${small ? (issue.inclusive ? 'at least' : 'above') : (issue.inclusive ? 'at most' : 'below')} ${bound}`;
      return `must be ${range}, got ${show(value)}`;
    }
    case 'string':
      if (small && bound === 1) return 'must not be empty';
      return `must be ${small ? 'at least' : 'at most'} ${bound} character${bound === 1 ? '' : 's'} long`;
    case 'array':
      if (small && bound === 1) return 'needs at least one entry';
      return `takes ${small ? 'at least' : 'at most'} ${bound} entr${bound === 1 ? 'y' : 'ies'}${Array.isArray(value) ? `, got ${value.length}` : ''}`;
    default:
      return issue.message;
  }
}

/** a message the schema gave, not zod's default wording */
function isCustom(issue: z.ZodIssue): boolean {
  return issue.message !== z.defaultErrorMap(issue, { defaultError: 'Invalid input', data: undefined }).message;
}

// ---------------------------------------------------------------- the schema at a path

/**
 * What a refined string wants, in its own words (`"HOST:PORT" with a port 1..65535`): the
 * refinement's message for an empty string, kept where it says what is expected. Keyed by the
 * string schema under the refinement (unique to it).
 */
const refinedAs = new WeakMap<z.ZodTypeAny, string>();

/** through the wrappers that do not change what is allowed */
function unwrap(s: z.ZodTypeAny): z.ZodTypeAny {
  let refined: z.ZodTypeAny | undefined;
  const inner = unwrapAll(s, (e) => { refined ??= e; });
  if (refined && inner._def.typeName === 'ZodString' && !refinedAs.has(inner)) {
    const r = refined.safeParse('');
    const m = r.success ? undefined : r.error.issues[0]?.message;
    if (m?.startsWith('expected ')) refinedAs.set(inner, m.slice('expected '.length));
  }
  return inner;
}

function unwrapAll(s: z.ZodTypeAny, effects: (e: z.ZodTypeAny) => void): z.ZodTypeAny {
  for (let i = 0; i < 32; i++) {
    if (s._def.typeName === 'ZodEffects') effects(s);
    const d = s._def as { typeName: string; schema?: z.ZodTypeAny; innerType?: z.ZodTypeAny; type?: z.ZodTypeAny; in?: z.ZodTypeAny; getter?: () => z.ZodTypeAny };
    switch (d.typeName) {
      case 'ZodEffects': s = d.schema!; break;
      case 'ZodDefault': case 'ZodOptional': case 'ZodNullable': case 'ZodReadonly': case 'ZodCatch': s = d.innerType!; break;
      case 'ZodBranded': s = d.type!; break;
      case 'ZodPipeline': s = d.in!; break;
      case 'ZodLazy': s = d.getter!(); break;
      default: return s;
    }
  }
  return s;
}

/** a union's options (each unwrapped), or the schema itself */
function alternatives(s: z.ZodTypeAny): z.ZodTypeAny[] {
  const u = unwrap(s);
  const d = u._def as { typeName: string; options?: z.ZodTypeAny[] | Map<unknown, z.ZodTypeAny> };
  if ((d.typeName === 'ZodUnion' || d.typeName === 'ZodDiscriminatedUnion') && d.options) {
    return [...d.options.values()].flatMap(alternatives);
  }
  return [u];
}

/** every schema that may apply at `path` (more than one below a union) */
export function schemasAt(root: z.ZodTypeAny, path: Path): z.ZodTypeAny[] {
  let here = alternatives(root);
  for (const k of path) {
    const next: z.ZodTypeAny[] = [];
    for (const s of here) {
      const d = s._def as { typeName: string; type?: z.ZodTypeAny; items?: z.ZodTypeAny[]; rest?: z.ZodTypeAny | null; valueType?: z.ZodTypeAny };
      if (d.typeName === 'ZodObject' && typeof k === 'string') {
        const c = (s as z.AnyZodObject).shape[k] as z.ZodTypeAny | undefined;
        if (c) next.push(c);
      } else if (d.typeName === 'ZodArray' && typeof k === 'number') next.push(d.type!);
      else if (d.typeName === 'ZodTuple' && typeof k === 'number') {
        const c = d.items![k] ?? d.rest;
        if (c) next.push(c);
      } else if (d.typeName === 'ZodRecord') next.push(d.valueType!);
    }
    here = next.flatMap(alternatives);
  }
  return here;
}

/** the keys of the object shapes among `schemas`, in schema order */
function objectKeys(schemas: z.ZodTypeAny[]): string[] {
  const keys = new Set<string>();
  for (const s of schemas) if (s._def.typeName === 'ZodObject') for (const k of Object.keys((s as z.AnyZodObject).shape)) keys.add(k);
  return [...keys];
}

/** the schema wants a number, a boolean or a name from a list: the value given is no secret */
function echoes(schemas: z.ZodTypeAny[]): boolean {
  return schemas.length > 0 && schemas.every((s) => ['ZodNumber', 'ZodBoolean', 'ZodEnum', 'ZodLiteral'].includes(s._def.typeName));
}

/** what the schemas allow, in words: `50 or 60`, `one of "a", "b"`, `a whole number 10..60000 ms` */
function allowed(schemas: z.ZodTypeAny[], unit?: string): string | undefined {
  if (!schemas.length) return undefined;
  if (schemas.every((s) => s._def.typeName === 'ZodLiteral')) {
    return orList(schemas.map((s) => JSON.stringify((s as z.ZodLiteral<unknown>).value)));
  }
  const parts = schemas.map((s) => describe(s, unit));
  if (parts.some((p) => p === undefined)) return undefined;
  return orList([...new Set(parts as string[])]);
}

function describe(s: z.ZodTypeAny, unit?: string): string | undefined {
  switch (s._def.typeName) {
    case 'ZodNumber': {
      const range = numberRange(s, unit);
      const whole = (s as z.ZodNumber)._def.checks.some((c) => c.kind === 'int');
      return `${whole ? 'a whole number' : 'a number'}${range ? ` ${range}` : ''}`;
    }
    case 'ZodBoolean': return 'true or false';
    case 'ZodEnum': return `one of ${(s as z.ZodEnum<[string]>).options.map((o) => JSON.stringify(o)).join(', ')}`;
    case 'ZodLiteral': return JSON.stringify((s as z.ZodLiteral<unknown>).value);
    case 'ZodString': {
      const re = (s as z.ZodString)._def.checks.find((c) => c.kind === 'regex' && c.message);
      const m = re?.message;
      if (m?.startsWith('expected ')) return m.slice('expected '.length);
      if (refinedAs.has(s)) return refinedAs.get(s);
      return m ? `a string (${m})` : 'a string';
    }
    case 'ZodObject': {
      const keys = Object.keys((s as z.AnyZodObject).shape);
      return `a map${keys.length ? ` with ${keys.length > 6 ? `${keys.slice(0, 6).join(', ')}, …` : keys.join(', ')}` : ''}`;
    }
    case 'ZodArray': case 'ZodTuple': return 'a list';
    default: return undefined;
  }
}

/** `10..60000 ms`, `at least 1000 ms`, `above 0` (empty when unbounded) */
function numberRange(s: z.ZodTypeAny, unit?: string): string {
  let min: { value: number; inclusive: boolean } | undefined;
  let max: { value: number; inclusive: boolean } | undefined;
  for (const c of (s as z.ZodNumber)._def.checks) {
    if (c.kind === 'min') min = { value: c.value, inclusive: c.inclusive };
    if (c.kind === 'max') max = { value: c.value, inclusive: c.inclusive };
  }
  const u = unit ? ` ${unit}` : '';
  if (min?.inclusive && max?.inclusive) return `${min.value}..${max.value}${u}`;
  const lo = min ? `${min.inclusive ? 'at least' : 'above'} ${min.value}` : '';
  const hi = max ? `${max.inclusive ? 'at most' : 'below'} ${max.value}` : '';
  return lo || hi ? `${[lo, hi].filter(Boolean).join(' and ')}${u}` : '';
}

/** the unit a key's name carries */
const UNITS: [RegExp, string][] = [
  [/_per_s$/, '/s'], [/_ms$/, 'ms'], [/_mhz$/, 'MHz'], [/_hz$/, 'Hz'], [/_kw$/, 'kW'], [/_c$/, '°C'], [/_s$/, 's'],
  [/_mb$/, 'MiB'], [/_rpm$/, 'rpm'], [/_ohm$/, 'Ω'], [/^baud$/, 'baud'],
];
function unitOf(path: Path): string | undefined {
  const key = path[path.length - 1];
  if (typeof key !== 'string') return undefined;
  return UNITS.find(([re]) => re.test(key))?.[1];
}

// ---------------------------------------------------------------- values and names

function valueAt(doc: unknown, path: Path): unknown {
  let v: unknown = doc;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return typeof v;
}

/** a value for the message: numbers and booleans as they are, a short string quoted */
function show(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return typeName(v);
}

function orList(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * The candidate a typo most likely meant: the fewest edits (insert, delete, substitute, swap two
 * neighbours; case ignored), at most 2 and at most a third of the longer name, so `mdoe` finds
 * `mode` but `io` does not find `id`.
 */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    if (c === word) continue;
    const d = editDistance(w, c.toLowerCase());
    if (d <= Math.min(2, Math.floor(Math.max(w.length, c.length) / 3)) && d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** optimal string alignment distance (Levenshtein with adjacent transpositions) */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
