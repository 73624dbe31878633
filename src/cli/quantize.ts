/** `llama4 quantize <hf-folder> --type q8_0|q4_0|q4_k_m|q6_k -o model.gguf`: write a quantized GGUF. */
import { Option, type Command } from 'commander';
import { quantizeHfFolder } from '../quant/gguf-export.js';
import { QUANT_TYPES, parseQuantType } from '../quant/quantize-model.js';
import { action } from './common.js';

interface Flags { type: string; output: string; quiet?: boolean }

export function registerQuantize(program: Command): void {
  program.command('quantize')
    .description('convert a Hugging Face folder to a GGUF file llama.cpp loads, quantized with llama-quantize\'s type mix')
    .argument('<hf-folder>', 'Hugging Face model folder (config.json + *.safetensors + tokenizer.json)')
    .addOption(new Option('--type <type>', 'weight type (q4_k_m: llama.cpp\'s Q4_K_M mix)').choices(QUANT_TYPES).makeOptionMandatory())
    .requiredOption('-o, --output <file>', 'the GGUF file to write')
    .option('--quiet', 'no progress on stderr')
    .action(action(async (folder: string, o: Flags) => {
      const t0 = performance.now();
      const log = o.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const r = await quantizeHfFolder(folder, o.output, parseQuantType(o.type, QUANT_TYPES), log);
      const types = Object.entries(r.types).map(([t, n]) => `${n} ${t}`).join(', ');
      log?.(`wrote ${r.path}: ${r.tensors} tensors (${types}), ${(r.bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }));
}
