/**
 * `llama4 pull <org/repo>[:QUANT|:file.gguf]`: download a model from the Hugging Face hub into the
 * shared Hugging Face cache (progress on stderr; the model's local path on stdout). Also the global
 * `--offline` flag, which every command honours (the same as HF_HUB_OFFLINE=1).
 */
import type { Command } from 'commander';
import { Llama4Error } from '../errors.js';
import { pullModel } from '../hub/pull.js';
import { formatSpec, parseRepoSpec } from '../hub/repo-spec.js';
import { action } from './common.js';

interface Flags { revision?: string; quiet?: boolean; json?: boolean }

/**
 * What every command shares about the hub: `llama4 --offline …` (anywhere on the command line;
 * never touch the network, as HF_HUB_OFFLINE=1).
 */
export function registerHub(program: Command): void {
  program
    .option('--offline', 'never touch the network: use models already in the Hugging Face cache (also HF_HUB_OFFLINE=1)')
    .hook('preSubcommand', (cmd) => { if (cmd.opts().offline) process.env.HF_HUB_OFFLINE = '1'; });
}

export function registerPull(program: Command): void {
  program.command('pull')
    .description('download a model from the Hugging Face hub into its cache (org/repo, org/repo:Q4_K_M, org/repo:file.gguf)')
    .argument('<model>', 'repository id, optionally with :QUANT or :path/to/file.gguf (GGUF repositories)')
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('--quiet', 'no progress and no licence notice on stderr')
    .option('--json', 'print {"repo","revision","commit","format","path",…} instead of the path')
    .action(action(async (model: string, o: Flags) => {
      const spec = parseRepoSpec(model);
      if (spec === null) throw new Llama4Error(`'${model}' is not a Hugging Face repository id (org/name, optionally :QUANT)`);
      const r = await pullModel(spec, { revision: o.revision, quiet: o.quiet });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({
          model: formatSpec(spec), repo: r.repo, revision: r.revision, commit: r.commit, format: r.format, path: r.modelPath,
          files: r.files, fetched_files: r.fetchedFiles, fetched_bytes: r.fetchedBytes, reused_files: r.reusedFiles,
          license: r.license, llama4_license: r.llama4License,
        })}\n`);
      } else {
        process.stdout.write(`${r.modelPath}\n`);
      }
    }));
}
