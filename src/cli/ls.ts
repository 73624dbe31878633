/** `llama4 ls`: the models in the Hugging Face cache (ours and Python's), one row per model and revision. */
import type { Command } from 'commander';
import { scanCache } from '../hub/cache.js';
import { formatBytes } from '../hub/download.js';
import { hubSettings } from '../hub/settings.js';
import { action } from './common.js';

/** "3 minutes ago", "2 days ago". */
export function ago(d: Date | null, now = Date.now()): string {
  if (d === null) return '-';
  const s = Math.max(0, Math.round((now - d.getTime()) / 1000));
  const steps: [number, string][] = [[31_536_000, 'year'], [2_592_000, 'month'], [604_800, 'week'], [86_400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [n, unit] of steps) if (s >= n) { const k = Math.floor(s / n); return `${k} ${unit}${k === 1 ? '' : 's'} ago`; }
  return 'just now';
}

export function registerLs(program: Command): void {
  program.command('ls')
    .alias('list')
    .description('list the models in the Hugging Face cache (repository, revision, format, quant, size, last used)')
    .option('--json', 'print a JSON array')
    .action(action(async (o: { json?: boolean }) => {
      const s = hubSettings();
      const rows = scanCache(s.cacheDir);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(rows.map((r) => ({
          name: r.name, repo: r.repo, revision: r.refs[0] ?? r.commit, refs: r.refs, commit: r.commit, format: r.format, quant: r.quant,
          size_bytes: r.sizeBytes, last_used: r.lastUsed?.toISOString() ?? null, complete: r.complete, path: r.path,
        })))}\n`);
        return;
      }
      const table = [['NAME', 'REVISION', 'FORMAT', 'QUANT', 'SIZE', 'LAST USED']];
      for (const r of rows) {
        table.push([
          r.name + (r.complete ? '' : ' (incomplete)'), r.refs.length > 0 ? r.refs.join(',') : r.commit.slice(0, 12),
          r.format, r.quant ?? '-', formatBytes(r.sizeBytes), ago(r.lastUsed),
        ]);
      }
      const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
      process.stdout.write(table.map((r) => r.map((x, c) => x.padEnd(widths[c])).join('  ').trimEnd()).join('\n') + '\n');
      if (rows.length === 0) process.stderr.write(`no models in ${s.cacheDir}\n`);
    }));
}
