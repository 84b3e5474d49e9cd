#!/usr/bin/env node
// The unit-attack command line: a thin launcher for the compiled CLI in dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('unit-attack is not built: run `npm install` (or `npm run build`) in the package folder first.\n');
  process.exit(2);
}
const { main } = await import(entry.href);
// Ctrl-C and `kill`: leave through process.exit, so that exit hooks delete temporary files (128 + signal number).
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, () => {
    process.stderr.write(`\nunit-attack: stopped by ${signal}\n`);
    process.exit(code);
  });
}
const code = await main(process.argv.slice(2));
process.exitCode = code;
// If a library left a handle open, do not hang: leave shortly after the work is done.
setTimeout(() => process.exit(code), 200).unref();
