import pino, { type Logger } from 'pino';

/**
 * Namespaced structured logger. Hot paths log objects, never formatted strings; the trip path
 * does not log until the boards are off.
 * HASHFLEX_LOG sets the level (default info); HASHFLEX_LOG_FILE sends logs to a file instead of
 * stderr (the simulator uses it so the terminal keeps its live status line).
 */
const root: Logger = pino(
  {
    level: process.env.HASHFLEX_LOG ?? 'info',
    base: undefined,
    redact: { paths: ['token', '*.token', 'headers.authorization'], censor: '[redacted]' },
  },
  pino.destination({ dest: process.env.HASHFLEX_LOG_FILE ?? 2, sync: false, mkdir: true }),
);

export type { Logger };

export function logger(name: string): Logger {
  return root.child({ ns: name });
}
