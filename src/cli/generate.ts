/** `llama4 generate <model> (--prompt|--ids|--ids-file) --max-tokens N [--json]`: raw completion. */
import type { Command } from 'commander';
import type { LoadQuantType } from '../quant/quantize-model.js';
import { Llama4Error } from '../errors.js';
import { generate } from '../generate/generator.js';
import { Session } from '../model/session.js';
import { action, addSamplingOptions, int, openModel, parseIdList, readIdsFile, samplingFromFlags, type SamplingFlags, BACKEND_OPTION, precisionOption, THREADS_OPTION, QUANT_OPTION, JSON_SCHEMA_OPTION, jsonSchemaFromFlags } from './common.js';
import { TokenConstraint } from '../generate/grammar/token-constraint.js';

interface Flags extends SamplingFlags {
  prompt?: string; ids?: number[]; idsFile?: string; maxTokens?: number; json?: boolean;
  ignoreEos?: boolean; stop: string[]; jsonSchema?: string; ctxSize?: number; backend?: string; threads?: number; quant?: LoadQuantType;
}

export function registerGenerate(program: Command): void {
  addSamplingOptions(program.command('generate'))
    .description('complete a raw prompt (no chat template); greedy unless --temperature is given')
    .argument('[model]', 'HF folder or .gguf file (default: the built-in tiny model)')
    .option('--prompt <text>', 'prompt text (tokenized with BOS, special tokens parsed)')
    .option('--ids <ids>', 'prompt token ids, comma-separated, used as they are', parseIdList('--ids'))
    .option('--ids-file <file>', 'JSON file with the prompt token ids')
    .option('--ctx-size <n>', 'context size (default: prompt + max tokens)', int('--ctx-size', 1))
    .option('--json', 'print {"ids":[…],"text":"…"} instead of the text')
    .addOption(BACKEND_OPTION).addOption(precisionOption('exact')).addOption(THREADS_OPTION).addOption(QUANT_OPTION).addOption(JSON_SCHEMA_OPTION)
    .action(action(async (modelPath: string | undefined, o: Flags) => {
      const given = [o.prompt, o.ids, o.idsFile].filter((x) => x !== undefined).length;
      if (given !== 1) throw new Llama4Error('give exactly one of --prompt, --ids, --ids-file');
      const grammar = jsonSchemaFromFlags(o);
      const m = await openModel(modelPath, o);
      const promptIds = o.prompt !== undefined ? m.tokenizer.encode(o.prompt) : o.ids ?? readIdsFile(o.idsFile!);
      const maxTokens = o.maxTokens ?? 32;
      const nCtx = o.ctxSize !== undefined ? Number(o.ctxSize) : promptIds.length + maxTokens;
      const session = new Session(m.model, nCtx);
      const it = generate(session, m.tokenizer, promptIds, {
        maxTokens, ignoreEos: o.ignoreEos, stop: o.stop, stopIds: m.tokenizer.eogIds,
        sampling: samplingFromFlags(o, { temperature: 0 }),
        constraint: grammar && new TokenConstraint(grammar, m.tokenizer, m.tokenizer.eogIds),
      });
      for (let r = await it.next(); ; r = await it.next()) {
        if (r.done) {
          if (o.json) process.stdout.write(`${JSON.stringify({ ids: r.value.ids, text: r.value.text, finish_reason: r.value.finishReason })}\n`);
          else process.stdout.write(`${r.value.tail}\n`);
          break;
        }
        if (!o.json) process.stdout.write(r.value.text);
      }
    }));
}
