import path from 'node:path';

/**
 * Where this hashflex runs from. Under tsx every module's __filename is its own .ts source; in
 * the board bundle (scripts/package/build.ts) it is the bundle, hashflex.js, in every module, and
 * __dirname is the package's directory: paths into the repository do not exist there.
 */
export const BUNDLED = !__filename.endsWith('.ts');

/** the script that starts this same hashflex in a child process: the bundle itself, or bin/hashflex.js */
export const HASHFLEX_SCRIPT = BUNDLED ? __filename : path.join(__dirname, '..', '..', 'bin', 'hashflex.js');
