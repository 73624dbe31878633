/**
 * `llama4 bench <model>`: prefill and decode speed, load time and peak memory on one model, as
 * medians over repetitions (this machine is noisy; quote medians).
 */
import type { Command } from 'commander';
import type { LoadQuantType } from '../quant/quantize-model.js';
import { action, int, openModel, BACKEND_OPTION, precisionOption, THREADS_OPTION, QUANT_OPTION } from './common.js';

interface Flags { promptTokens: number; genTokens: number; repetitions: number; json?: boolean; backend?: string; threads?: number; quant?: LoadQuantType }

export interface BenchResult {
  prefill_tps: number;
  decode_tps: number;
  load_s: number;
  peak_rss_mb: number;
  prompt_tokens: number;
  gen_tokens: number;
  repetitions: number;
  threads: number | null;
  backend: string;
  /** The wasm kernel build ('baseline' or 'relaxed'; null for other backends). */
  kernels: string | null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function registerBench(program: Command): void {
  program.command('bench')
    .description('measure prefill and decode tokens/s, load time and peak RSS (medians over repetitions)')
    .argument('[model]', 'HF folder or .gguf file (default: the built-in tiny model)')
    .option('--prompt-tokens <n>', 'prompt length for the prefill measurement', int('--prompt-tokens', 1), 128)
    .option('--gen-tokens <n>', 'tokens decoded one at a time after the prompt', int('--gen-tokens', 1), 32)
    .option('--repetitions <n>', 'repetitions (the median is reported)', int('--repetitions', 1), 3)
    .option('--json', 'print {"prefill_tps","decode_tps","load_s","peak_rss_mb",…}')
    .addOption(BACKEND_OPTION).addOption(precisionOption('fast')).addOption(THREADS_OPTION).addOption(QUANT_OPTION)
    .action(action(async (modelPath: string | undefined, o: Flags) => {
      const t0 = performance.now();
      const m = await openModel(modelPath, o);
      const loadS = (performance.now() - t0) / 1000;
      const V = m.config.vocabSize;
      // Fixed pseudo-random prompt: the speed must not depend on which ids are used.
      let s = 1;
      const ids = Array.from({ length: o.promptTokens }, () => { s = (s * 1103515245 + 12345) % 2147483648; return s % Math.min(V, 32000); });
      const prefill: number[] = [], decode: number[] = [];
      for (let r = 0; r < o.repetitions; r++) {
        const cache = m.model.newCache(o.promptTokens + o.genTokens);
        let t = performance.now();
        const logits = m.model.forward(cache, ids, { logits: 'last' });
        prefill.push(o.promptTokens / ((performance.now() - t) / 1000));
        let next = argmax(logits);
        t = performance.now();
        for (let g = 0; g < o.genTokens; g++) next = argmax(m.model.forward(cache, [next]));
        decode.push(o.genTokens / ((performance.now() - t) / 1000));
      }
      const backend = m.model.backend as { name: string; threads?: number; kernels?: string };
      const result: BenchResult = {
        prefill_tps: round(median(prefill)), decode_tps: round(median(decode)), load_s: round(loadS),
        peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
        prompt_tokens: o.promptTokens, gen_tokens: o.genTokens, repetitions: o.repetitions,
        threads: backend.threads ?? null, backend: backend.name, kernels: backend.kernels ?? null,
      };
      if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        process.stdout.write(`prefill ${result.prefill_tps} tokens/s (${o.promptTokens} tokens), decode ${result.decode_tps} tokens/s (${o.genTokens} tokens), ` +
          `load ${result.load_s} s, peak RSS ${result.peak_rss_mb} MB — ${result.backend}${result.kernels ? ` (${result.kernels} kernels)` : ''}${result.threads ? `, ${result.threads} threads` : ''}, median of ${o.repetitions}\n`);
      }
    }));
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}
const round = (x: number) => Math.round(x * 100) / 100;
