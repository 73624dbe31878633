/** `llama4 run [model] --prompt TEXT`: one chat turn (or a raw prompt), streamed to stdout. */
import type { Command } from 'commander';
import type { LoadQuantType } from '../quant/quantize-model.js';
import { Llama4Error } from '../errors.js';
import { generate } from '../generate/generator.js';
import { Session } from '../model/session.js';
import { encodeChat, type ChatMessage } from '../tokenizer/chat.js';
import { action, addSamplingOptions, int, openModel, samplingFromFlags, type SamplingFlags, BACKEND_OPTION, precisionOption, THREADS_OPTION, QUANT_OPTION, JSON_SCHEMA_OPTION, jsonSchemaFromFlags } from './common.js';
import { TokenConstraint } from '../generate/grammar/token-constraint.js';

interface Flags extends SamplingFlags {
  prompt?: string; system?: string; raw?: boolean; maxTokens?: number; ctxSize?: number;
  ignoreEos?: boolean; stop: string[]; jsonSchema?: string; backend?: string; threads?: number; quant?: LoadQuantType;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerRun(program: Command): void {
  addSamplingOptions(program.command('run'))
    .description('answer one prompt with the model, streaming the reply (prompt from --prompt or stdin)')
    .argument('[model]', 'HF folder or .gguf file (default: the built-in tiny model, random weights)')
    .option('-p, --prompt <text>', 'the user message')
    .option('--system <text>', 'a system message')
    .option('--raw', 'complete the prompt as raw text instead of a chat turn')
    .option('--ctx-size <n>', 'context size in tokens', int('--ctx-size', 1))
    .addOption(BACKEND_OPTION).addOption(precisionOption('fast')).addOption(THREADS_OPTION).addOption(QUANT_OPTION).addOption(JSON_SCHEMA_OPTION)
    .action(action(async (modelPath: string | undefined, o: Flags) => {
      const prompt = o.prompt ?? (process.stdin.isTTY ? undefined : await readStdin());
      if (prompt === undefined || prompt.length === 0) throw new Llama4Error('give a prompt with --prompt (or on stdin)');
      const grammar = jsonSchemaFromFlags(o);
      const m = await openModel(modelPath, o);
      const messages: ChatMessage[] = [];
      if (o.system) messages.push({ role: 'system', content: o.system });
      messages.push({ role: 'user', content: prompt });
      const ids = o.raw ? m.tokenizer.encode(prompt) : encodeChat(m.tokenizer, m.chat, messages);
      const maxTokens = o.maxTokens ?? 256;
      const session = new Session(m.model, o.ctxSize ?? Math.min(m.config.maxContext, ids.length + maxTokens));
      const controller = new AbortController();
      const onSigint = () => controller.abort();
      process.once('SIGINT', onSigint);
      try {
        const it = generate(session, m.tokenizer, ids, {
          maxTokens, ignoreEos: o.ignoreEos, stop: o.stop, stopIds: m.tokenizer.stopIds,
          sampling: samplingFromFlags(o, m.samplingDefaults), signal: controller.signal,
          constraint: grammar && new TokenConstraint(grammar, m.tokenizer, m.tokenizer.stopIds),
        });
        for (let r = await it.next(); ; r = await it.next()) {
          if (r.done) { process.stdout.write(`${r.value.tail}\n`); break; }
          process.stdout.write(r.value.text);
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    }));
}
