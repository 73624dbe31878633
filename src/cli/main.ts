#!/usr/bin/env node
/** The `llama4` command line: one file per command, registered here. */
import { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerChat } from './chat.js';
import { registerGenerate } from './generate.js';
import { registerInspect } from './inspect.js';
import { registerLogits } from './logits.js';
import { registerLs } from './ls.js';
import { registerHub, registerPull } from './pull.js';
import { registerQuantize } from './quantize.js';
import { registerRm } from './rm.js';
import { registerRun } from './run.js';
import { registerServe } from './serve.js';
import { registerTokenize } from './tokenize.js';
import { registerTrace } from './trace.js';

const program = new Command('llama4')
  .description('Run Llama 4 and Llama 3 models (Hugging Face folders and GGUF files) in TypeScript')
  .version('0.1.0')
  // Usage errors are one line like every other error: commander's message, its "(Did you mean …?)"
  // hint joined on, and a pointer to the help (showHelpAfterError would print that on a second line).
  .configureOutput({
    outputError: (str, write) => write(`llama4: ${str.replace(/^error: /, '').split('\n').map((s) => s.trim()).filter((s) => s.length > 0).join(' ')} (run llama4 help for usage)\n`),
  });

registerRun(program);
registerChat(program);
registerGenerate(program);
registerLogits(program);
registerTokenize(program);
registerTrace(program);
registerBench(program);
registerQuantize(program);
registerServe(program);
registerHub(program);
registerPull(program);
registerLs(program);
registerRm(program);
registerInspect(program);

await program.parseAsync(process.argv);
