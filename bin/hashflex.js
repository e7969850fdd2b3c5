#!/usr/bin/env node
// Entry point for `hashflex` / `npx hashflex`: runs the TypeScript sources through tsx,
// so a fresh `npm install` needs no build step. Boards run the esbuild bundle instead.
'use strict';
require('tsx/cjs');
require('../agent/cli.ts')
  .main(process.argv.slice(2))
  .then((code) => { if (typeof code === 'number') process.exitCode = code; });
