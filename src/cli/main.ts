#!/usr/bin/env node
/** The `llama4` command line: one file per command, registered here. */
import { Command } from 'commander';
import { registerChat } from './chat.js';
import { registerGenerate } from './generate.js';
import { registerLogits } from './logits.js';
import { registerRun } from './run.js';
import { registerTokenize } from './tokenize.js';

const program = new Command('llama4')
  .description('Run Llama 4 and Llama 3 models (Hugging Face folders and GGUF files) in TypeScript')
  .version('0.1.0')
  .showHelpAfterError('(run llama4 help for usage)')
  .configureOutput({ outputError: (str, write) => write(`llama4: ${str.replace(/^error: /, '')}`) });

registerRun(program);
registerChat(program);
registerGenerate(program);
registerLogits(program);
registerTokenize(program);

await program.parseAsync(process.argv);
