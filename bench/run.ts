/**
 * `npm run bench`: writes random-weight GGUFs of real shapes (a Llama-3.2-1B shape and a
 * Llama-4-shaped MoE, each as Q8_0, Q4_0 and Q4_K_M) with the project's own writer, runs
 * `llama4 bench` on each in a fresh process, and prints one table. When LLAMA_BENCH names a
 * llama.cpp `llama-bench` binary, the same files are measured with it too, side by side.
 *
 * Environment: BENCH_DIR (where the files go; default <tmp>/llama4-bench), BENCH_THREADS
 * (default 2), BENCH_REPS (default 3), BENCH_ONLY (a substring of the file names to run),
 * BENCH_PROMPT / BENCH_GEN (default 128 / 32).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LLAMA4_MOE, LLAMA_1B, writeSyntheticGguf, type FileType, type SyntheticShape } from './synthetic.js';
import type { BenchResult } from '../src/cli/bench.js';

const dir = process.env.BENCH_DIR ?? join(tmpdir(), 'llama4-bench');
const threads = Number(process.env.BENCH_THREADS ?? 2);
const reps = Number(process.env.BENCH_REPS ?? 3);
const promptTokens = Number(process.env.BENCH_PROMPT ?? 128);
const genTokens = Number(process.env.BENCH_GEN ?? 32);
const only = process.env.BENCH_ONLY;
const cli = resolve(import.meta.dirname, '../src/cli/main.js');

interface Row { file: string; sizeMb: number; ours: BenchResult; cpp?: { prefill: number; decode: number } }

function ensureFile(shape: SyntheticShape, ft: FileType): string {
  const path = join(dir, `${shape.name}-${ft}.gguf`);
  if (!existsSync(path)) {
    process.stderr.write(`writing ${path} …\n`);
    writeSyntheticGguf(path, shape, ft);
  }
  return path;
}

function runOurs(path: string): BenchResult {
  const out = execFileSync(process.execPath, [cli, 'bench', path, '--json', '--threads', String(threads),
    '--repetitions', String(reps), '--prompt-tokens', String(promptTokens), '--gen-tokens', String(genTokens)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as BenchResult;
}

/** llama-bench's JSON: one record per test with n_prompt / n_gen and avg_ts (tokens/s). */
function runLlamaCpp(bin: string, path: string): { prefill: number; decode: number } {
  const out = execFileSync(bin, ['-m', path, '-p', String(promptTokens), '-n', String(genTokens), '-t', String(threads), '-r', String(reps), '-o', 'json'], { encoding: 'utf8' });
  const records = JSON.parse(out) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  const pp = records.find((r) => r.n_prompt > 0 && r.n_gen === 0), tg = records.find((r) => r.n_gen > 0 && r.n_prompt === 0);
  return { prefill: pp?.avg_ts ?? NaN, decode: tg?.avg_ts ?? NaN };
}

mkdirSync(dir, { recursive: true });
const rows: Row[] = [];
for (const shape of [LLAMA_1B, LLAMA4_MOE]) {
  for (const ft of ['q8_0', 'q4_0', 'q4_k_m'] as FileType[]) {
    const name = `${shape.name}-${ft}`;
    if (only && !name.includes(only)) continue;
    const path = ensureFile(shape, ft);
    process.stderr.write(`benchmarking ${name} …\n`);
    try {
      const row: Row = { file: name, sizeMb: Math.round(statSync(path).size / 2 ** 20), ours: runOurs(path) };
      if (process.env.LLAMA_BENCH) row.cpp = runLlamaCpp(process.env.LLAMA_BENCH, path);
      rows.push(row);
      process.stderr.write(`  ${JSON.stringify(row)}\n`);
    } catch (err) {
      // One failing file must not lose the others' results.
      process.stderr.write(`  ${name} failed: ${(err as Error).message.split('\n')[0]}\n`);
    }
  }
}

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const cpp = rows.some((r) => r.cpp);
const head = ['model', 'MiB', 'prefill t/s', 'decode t/s', 'load s', 'peak RSS MiB', ...(cpp ? ['llama.cpp prefill', 'llama.cpp decode', 'prefill ratio', 'decode ratio'] : [])];
const kernels = rows[0]?.ours.kernels ? ` (${rows[0].ours.kernels} kernels)` : '';
console.log(`\nllama4.ts ${rows[0]?.ours.backend ?? ''} backend${kernels}, Node.js ${process.versions.node}, ${threads} threads, prompt ${promptTokens}, decode ${genTokens}, median of ${reps}\n`);
console.log(`| ${head.join(' | ')} |`);
console.log(`|${head.map(() => '---').join('|')}|`);
for (const r of rows) {
  const cells = [r.file, String(r.sizeMb), f(r.ours.prefill_tps), f(r.ours.decode_tps), f(r.ours.load_s), String(r.ours.peak_rss_mb)];
  if (cpp) cells.push(f(r.cpp?.prefill ?? NaN), f(r.cpp?.decode ?? NaN), f(r.ours.prefill_tps / (r.cpp?.prefill ?? NaN)), f(r.ours.decode_tps / (r.cpp?.decode ?? NaN)));
  console.log(`| ${cells.join(' | ')} |`);
}
if (!cpp) console.log('\n(set LLAMA_BENCH=/path/to/llama-bench to add llama.cpp on the same files)');
