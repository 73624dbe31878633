/** `llama4 rm <org/repo>[:QUANT] …`: delete models from the Hugging Face cache. */
import type { Command } from 'commander';
import { Llama4Error } from '../errors.js';
import { removeFromCache } from '../hub/cache.js';
import { formatBytes } from '../hub/download.js';
import { parseRepoSpec } from '../hub/repo-spec.js';
import { hubSettings } from '../hub/settings.js';
import { action } from './common.js';

export function registerRm(program: Command): void {
  program.command('rm')
    .alias('remove')
    .description('delete models from the Hugging Face cache: a whole repository, one GGUF quant (org/repo:Q4_K_M) or one --revision')
    .argument('<model...>', 'repository ids, optionally with :QUANT')
    .option('--revision <rev>', 'only this branch, tag or commit')
    .action(action(async (models: string[], o: { revision?: string }) => {
      const s = hubSettings();
      for (const model of models) {
        const spec = parseRepoSpec(model);
        if (spec === null) throw new Llama4Error(`'${model}' is not a Hugging Face repository id (org/name, optionally :QUANT)`);
        const r = removeFromCache(s.cacheDir, spec, o.revision);
        process.stdout.write(`deleted ${r.removed.join(', ')} (${formatBytes(r.freedBytes)} freed)\n`);
      }
    }));
}
