import { timer, type CheckResult } from '../../doctor/types';
import type { TokenSource } from './auth';
import type { VtnClient } from './client';
import { followed } from './enrol';
import type { OpenAdrSettings } from './settings';
import { safeUrl } from './transport';

/**
 * The commissioning checks of the VEN (`hashflex doctor`, check `openadr`): a token from the
 * token endpoint, the VEN object readable (found, or to be created at the first start), and the
 * programs named in openadr.programs readable. Each says what to fix; none creates anything.
 */
export async function venChecks(s: OpenAdrSettings, client: VtnClient, auth: TokenSource, now: () => number): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const vtn = safeUrl(s.vtnUrl);
  const token = timer('openadr', 'token');
  if (!auth.enabled) out.push(token.skip('no client_id: requests carry no token', 'set openadr.client_id and client_secret_file if the VTN asks for credentials'));
  else {
    try {
      await auth.bearer();
      const left = auth.expiresAt !== undefined ? Math.round((auth.expiresAt - now()) / 1000) : undefined;
      out.push(token.pass(`token for client ${s.clientId}${left !== undefined ? `, valid ${left} s` : ''}`));
    } catch (e) {
      out.push(token.fail((e as Error).message, 'check openadr.client_id, the secret, token_url and the CA (ca_file) with the program operator'));
      return out;
    }
  }
  const ven = timer('openadr', 'ven');
  try {
    const found = await client.vensNamed(s.venName);
    out.push(found.length
      ? ven.pass(`${vtn}: VEN ${s.venName} is ${found[0].id}`, { ven_id: found[0].id })
      : ven.pass(`${vtn}: no VEN ${s.venName} yet; the agent creates it at its first start`));
  } catch (e) {
    out.push(ven.fail((e as Error).message, 'check openadr.vtn_url (the API base, e.g. https://vtn.example/openadr3/3.1.0), the network and openadr.ca_file'));
    return out;
  }
  const programs = timer('openadr', 'programs');
  try {
    const { programs: got, missing } = followed(await client.programs(), s.programs);
    if (missing.length) out.push(programs.fail(`programs not readable: ${missing.join(', ')} (readable: ${got.map((p) => p.programName).join(', ') || 'none'})`, 'check openadr.programs against the program names the operator gave, and that this VEN is enrolled in them'));
    else out.push(programs.pass(`${got.length} program${got.length === 1 ? '' : 's'}: ${got.map((p) => p.programName).join(', ') || 'none'}`, { programs: got.map((p) => p.programName) }));
  } catch (e) {
    out.push(programs.fail((e as Error).message, 'the VTN refused to list programs: check the VEN\'s enrolment with the operator'));
  }
  return out;
}
