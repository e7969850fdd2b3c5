/**
 * Behaviours a test switches on to make the simulated VTN misbehave the way real ones do. `down`
 * (connections refused) is the listener's business (SimVtn.down/up); these act per request.
 */
export type VtnFault =
  /** accept the request and never answer */
  | 'hang'
  /** 200 with bytes that are not JSON */
  | 'garbage'
  /** 200 with JSON of the wrong shape for the endpoint */
  | 'wrong-schema'
  /** 500 with a problem */
  | 'error';

export interface FaultSetting {
  fault: VtnFault;
  /** only requests whose path (under the base) matches; absent = every request */
  paths?: RegExp;
}

/** the request this fault applies to, or not */
export function applies(setting: FaultSetting | undefined, path: string): setting is FaultSetting {
  return setting !== undefined && (setting.paths === undefined || setting.paths.test(path));
}

/**
 * A body that parses as JSON but breaks the endpoint's schema: a list holds an object with the
 * wrong types where the agent acts (an event with intervals as text, an ID that is a number); a
 * single object lacks its required fields; a token reply has a numeric token.
 */
export function wrongSchemaBody(method: string, path: string): unknown {
  if (path === '/auth/token') return { access_token: 42, token_type: 'Bearer', expires_in: 'soon' };
  if (path === '/auth/server') return { tokenURL: 17 };
  const collection = method === 'GET' && /\/(programs|events|reports|subscriptions|vens|resources)$/.test(path) && !path.startsWith('/notifiers');
  const bad = { id: 7, objectType: 'EVENT', programID: null, intervals: 'soon', programName: ['x'], venName: 3 };
  return collection ? [bad] : { ...bad, WEBHOOK: 'yes' };
}

export const GARBAGE = '<html><body>502 Bad Gateway</body></html>\u0000{"unterminated": [';
