import { parseArgs } from 'node:util';
import { buildPackage } from './build';

/**
 * `npm run package -- [--out DIR] [--sqlite-prebuilt FILE.tar.gz]...`: the board package (build.ts).
 *
 * Its own file, never imported: a module that also runs as a program (`require.main === module`)
 * would run inside the board bundle too, where that test is true for every module it holds.
 */
const { values } = parseArgs({ options: { out: { type: 'string' }, 'sqlite-prebuilt': { type: 'string', multiple: true } } });
buildPackage({ outDir: values.out, sqlitePrebuilt: values['sqlite-prebuilt'], log: (s) => console.log(s) })
  .catch((e: Error) => {
    console.error(`package: ${e.message}`);
    process.exitCode = 1;
  });
