// The agent's version, from package.json, as sent in the uplink `hello`.
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const VERSION: string = require('../package.json').version;
