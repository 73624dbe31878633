/** `llama4 logits <model> --ids 1,2,3 [--positions 0,5]`: raw next-token logits as JSON. */
import type { Command } from 'commander';
import type { LoadQuantType } from '../quant/quantize-model.js';
import { Llama4Error } from '../errors.js';
import { action, openModel, parseIdList, readIdsFile, BACKEND_OPTION, precisionOption, THREADS_OPTION, QUANT_OPTION } from './common.js';

interface Flags { ids?: number[]; idsFile?: string; positions?: number[]; backend?: string; threads?: number; quant?: LoadQuantType; ctxSize?: number }

export function registerLogits(program: Command): void {
  program.command('logits')
    .description('print the logits after each prompt position as JSON: {"positions":[…],"logits":[[…],…]}')
    .argument('[model]', 'HF folder or .gguf file (default: the built-in tiny model)')
    .option('--ids <ids>', 'prompt token ids, comma-separated (no BOS is added)', parseIdList('--ids'))
    .option('--ids-file <file>', 'JSON file with the prompt token ids')
    .option('--positions <list>', 'positions whose logits to print (default: all)', parseIdList('--positions'))
    .addOption(BACKEND_OPTION).addOption(precisionOption('exact')).addOption(THREADS_OPTION).addOption(QUANT_OPTION)
    .action(action(async (modelPath: string | undefined, o: Flags) => {
      const ids = o.ids ?? (o.idsFile !== undefined ? readIdsFile(o.idsFile) : undefined);
      if (!ids || ids.length === 0) throw new Llama4Error('give the prompt with --ids or --ids-file');
      const m = await openModel(modelPath, o);
      const positions = o.positions ?? ids.map((_, i) => i);
      for (const p of positions) if (p >= ids.length) throw new Llama4Error(`--positions asks for position ${p}, but the prompt has ${ids.length} tokens`);
      const cache = m.model.newCache(Math.max(ids.length, 1));
      const logits = m.model.forward(cache, ids, { logits: positions });
      const V = m.config.vocabSize;
      const rows = positions.map((_, r) => Array.from(logits.subarray(r * V, (r + 1) * V)));
      process.stdout.write(`${JSON.stringify({ positions, logits: rows })}\n`);
    }));
}
