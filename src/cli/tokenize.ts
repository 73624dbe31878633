/** `llama4 tokenize <model> TEXT`: token ids as a JSON array. */
import type { Command } from 'commander';
import { Llama4Error } from '../errors.js';
import { action, openModel } from './common.js';

export function registerTokenize(program: Command): void {
  program.command('tokenize')
    .description('print the token ids of TEXT as a JSON array (BOS added, special tokens parsed)')
    .argument('<model>', 'HF folder or .gguf file')
    .argument('<text>', 'text to tokenize')
    .option('--no-bos', 'do not add BOS')
    .option('--no-parse-special', 'treat special-token text as plain text')
    .option('--pieces', 'print [{"id","piece"}] instead of ids')
    .action(action(async (modelPath: string, text: string, o: { bos: boolean; parseSpecial: boolean; pieces?: boolean }) => {
      if (typeof text !== 'string') throw new Llama4Error('give the text to tokenize');
      const m = await openModel(modelPath, { backend: 'ref' });
      const ids = m.tokenizer.encode(text, { addBos: o.bos ? undefined : false, parseSpecial: o.parseSpecial });
      const out = o.pieces ? ids.map((id) => ({ id, piece: m.tokenizer.decode([id]) })) : ids;
      process.stdout.write(`${JSON.stringify(out)}\n`);
    }));
}
