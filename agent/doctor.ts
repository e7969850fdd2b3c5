import { UsageError } from './cli';

/** `hashflex doctor` — commissioning checks (issue 9). Not built yet: says so, exit 1. */
export async function doctorCommand(_argv: string[]): Promise<number> {
  void UsageError;
  process.stderr.write('hashflex doctor: not available in this version yet\n');
  return 1;
}
