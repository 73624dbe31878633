/**
 * `npm test`: every dist/test/**\/*.test.js file through Node's test runner. Node 20 accepted a
 * directory (and then also ran every helper module in it as a test file); Node 22 and newer take
 * only files or globs, so the list is made here, the same on every version. Extra arguments go to
 * the runner (`npm test -- --test-name-pattern=relaxed`).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return testFiles(p);
    return e.name.endsWith('.test.js') ? [p] : [];
  });
}

const root = import.meta.dirname;
const files = testFiles(root).map((f) => relative(process.cwd(), f)).sort();
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...process.argv.slice(2), ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
