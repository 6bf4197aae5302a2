#!/usr/bin/env node
// Runs every benchmark in bench/ one after the other (they each print their own figures), or those named on the
// command line: `npm run bench -- gateway`. Benchmarks share the machine's two cores, so never in parallel.
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const wanted = process.argv.slice(2);
const benches = readdirSync(join(root, 'bench'))
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => wanted.length === 0 || wanted.some((name) => file.includes(name)))
  .sort();

let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n=== ${file}\n`);
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join('bench', file)], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    failed += 1;
  }
}
process.exit(failed === 0 ? 0 : 1);
