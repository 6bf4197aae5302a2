#!/usr/bin/env node
// Builds the apps when their output is missing or older than any source file, so that `npm start`,
// `npm run sandbox` and `npm run migrate` always run the code in the working tree.
'use strict';
const { execSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const outputs = ['dist/apps/service/apps/service/src/main.js', 'dist/apps/sandbox/main.js'].map((p) => join(root, p));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      newest = Math.max(newest, newestSource(path));
    } else if (entry.name.endsWith('.ts')) {
      newest = Math.max(newest, statSync(path).mtimeMs);
    }
  }
  return newest;
}

const sources = Math.max(newestSource(join(root, 'apps')), newestSource(join(root, 'libs')));
const stale = outputs.some((output) => !existsSync(output) || statSync(output).mtimeMs < sources);
if (stale) {
  process.stderr.write('building the apps (output missing or older than the sources)...\n');
  execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
}
