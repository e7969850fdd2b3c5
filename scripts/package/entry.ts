// Entry of the board bundle (scripts/package/build.ts): the same CLI as bin/hashflex.js, with
// no tsx at run time. Native modules (serialport's bindings, better-sqlite3) stay outside the
// bundle and are shipped beside it in the package's own node_modules/.
import { main } from '../../agent/cli';

void main(process.argv.slice(2)).then((code) => {
  if (typeof code === 'number') process.exitCode = code;
});
