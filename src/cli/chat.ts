/**
 * `llama4 chat [model]`: an interactive conversation. The KV cache outlives each turn: the next
 * turn's prompt starts with everything already evaluated, so only the new message is computed.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { LoadQuantType } from '../quant/quantize-model.js';
import { generate } from '../generate/generator.js';
import { Session } from '../model/session.js';
import { encodeChat, type ChatMessage } from '../tokenizer/chat.js';
import { action, addSamplingOptions, int, openModel, samplingFromFlags, type SamplingFlags, BACKEND_OPTION, precisionOption, THREADS_OPTION, QUANT_OPTION } from './common.js';

interface Flags extends SamplingFlags {
  system?: string; maxTokens?: number; ctxSize?: number; ignoreEos?: boolean; stop: string[]; backend?: string; threads?: number; quant?: LoadQuantType; verbose?: boolean;
}

const HELP = 'commands: /clear (forget the conversation), /exit (quit); Ctrl-C stops a reply, Ctrl-D quits';

export function registerChat(program: Command): void {
  addSamplingOptions(program.command('chat'))
    .description('chat interactively; the conversation stays in the KV cache between turns')
    .argument('[model]', 'HF folder or .gguf file (default: the built-in tiny model, random weights)')
    .option('--system <text>', 'a system message')
    .option('--ctx-size <n>', 'context size in tokens', int('--ctx-size', 1), 4096)
    .option('--verbose', 'after each reply, print tokens reused from the cache and evaluated')
    .addOption(BACKEND_OPTION).addOption(precisionOption('fast')).addOption(THREADS_OPTION).addOption(QUANT_OPTION)
    .action(action(async (modelPath: string | undefined, o: Flags) => {
      const m = await openModel(modelPath, o);
      const session = new Session(m.model, Math.min(o.ctxSize ?? 4096, m.config.maxContext));
      const start: ChatMessage[] = o.system ? [{ role: 'system', content: o.system }] : [];
      let messages = [...start];
      const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
      let controller: AbortController | null = null;
      rl.on('SIGINT', () => { if (controller) controller.abort(); else rl.close(); });
      if (process.stdin.isTTY) process.stdout.write(`${HELP}\n`);
      // Lines are read through the async iterator, which queues them: with `rl.question`, lines
      // that arrive while a reply is being generated (piped input, typing ahead) were lost.
      const lines = rl[Symbol.asyncIterator]();
      let closed = false;
      rl.on('close', () => { closed = true; });
      rl.setPrompt('> ');
      for (;;) {
        if (closed) process.stdout.write('> '); else rl.prompt();
        const next = await lines.next();
        if (next.done) break; // closed (Ctrl-D / end of input)
        const text = (next.value as string).trim();
        if (text === '') continue;
        if (text === '/exit' || text === '/quit') break;
        if (text === '/clear') { messages = [...start]; session.cache.clear(); continue; }
        if (text === '/help') { process.stdout.write(`${HELP}\n`); continue; }
        messages.push({ role: 'user', content: text });
        const ids = encodeChat(m.tokenizer, m.chat, messages);
        controller = new AbortController();
        const it = generate(session, m.tokenizer, ids, {
          maxTokens: o.maxTokens ?? Math.max(1, session.nCtx - ids.length),
          ignoreEos: o.ignoreEos, stop: o.stop, stopIds: m.tokenizer.stopIds,
          sampling: samplingFromFlags(o, m.samplingDefaults), signal: controller.signal,
        });
        try {
          for (let r = await it.next(); ; r = await it.next()) {
            if (r.done) {
              process.stdout.write(`${r.value.tail}\n`);
              messages.push({ role: 'assistant', content: r.value.text });
              if (o.verbose) process.stderr.write(`[${r.value.reusedTokens} prompt tokens reused from the cache, ${ids.length - r.value.reusedTokens} evaluated, ${r.value.ids.length} generated, ${r.value.finishReason}]\n`);
              break;
            }
            process.stdout.write(r.value.text);
          }
        } catch (err) {
          messages.pop(); // the turn failed (e.g. context full): drop it and keep chatting
          process.stdout.write('\n');
          process.stderr.write(`llama4: ${(err as Error).message}\n`);
        } finally {
          controller = null;
        }
      }
      rl.close();
    }));
}
