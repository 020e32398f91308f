// The package as npm would publish it: the TypeScript declarations
// (src/index.d.ts) compile in strict mode and fit the SDK as an application
// uses it (test/types/usage.ts, resolved through package.json's `exports`
// as `@confab/client`), every export of src/index.js is declared, and
// `npm pack` holds the sources, the declarations and the README only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as sdk from '../src/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

test('the declarations compile, strictly, and refuse what they must', async () => {
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', 'test/types/usage.ts'];
  const result = await promisify(execFile)(process.execPath, args, { cwd: root }).catch((e) => e);
  assert.equal(result.code ?? 0, 0, `tsc:\n${result.stdout}${result.stderr}`);
});

test('every export of the SDK is declared', async () => {
  const declarations = await readFile(new URL('../src/index.d.ts', import.meta.url), 'utf8');
  for (const name of Object.keys(sdk)) {
    assert.match(declarations, new RegExp(`export (declare )?(class|function|const) ${name}\\b`), `${name} is not declared`);
  }
});

test('npm pack holds the modules, the declarations and the README, nothing else', async () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await promisify(execFile)(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root });
  const [pack] = JSON.parse(stdout);
  const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(pack.name, '@confab/client');
  assert.match(pack.version, /^\d+\.\d+\.\d+$/);
  assert.ok(manifest.license && manifest.exports['.'].types && manifest.exports['.'].default);
  assert.deepEqual(Object.keys(manifest.dependencies || {}), [], 'no runtime dependencies');
  const files = pack.files.map((f) => f.path).sort();
  assert.ok(files.includes('src/index.js') && files.includes('src/index.d.ts') && files.includes('README.md'));
  assert.deepEqual(files.filter((f) => !/^(src\/[a-z]+\.(js|d\.ts)|README\.md|package\.json)$/.test(f)), []);
});
