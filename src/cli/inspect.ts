/**
 * `llama4 inspect <model> [--tensors] [--stats] [--json]`: architecture, layer plan, parameter
 * counts (total and active per token), context length and licence; the tensor table; and a weight
 * audit (mean, std, min, max, NaN/Inf and all-zero rows per tensor) that exits 1 when it finds
 * NaN or Inf. Reads headers only (and, with --stats, each tensor once), never loads the model.
 */
import type { Command } from 'commander';
import { Llama4Error } from '../errors.js';
import { openModelFiles } from '../inspect/model-files.js';
import { formatSummary, summarizeModel } from '../inspect/model-summary.js';
import { action, DEFAULT_MODEL, resolveModelPath } from './common.js';

interface Flags { tensors?: boolean; stats?: boolean; json?: boolean }

export function registerInspect(program: Command): void {
  program.command('inspect')
    .description('describe a model: architecture, layer plan, parameters (total/active), context, licence; --tensors, --stats (weight audit)')
    .argument('[model]', 'HF folder, .gguf file (any part of a split one) or org/repo[:QUANT] (default: the built-in tiny model)')
    .option('--tensors', 'list every tensor (name, type, shape, bytes)')
    .option('--stats', 'per-tensor mean, std, min, max, NaN/Inf and all-zero rows (exit status 1 on NaN/Inf)')
    .option('--json', 'print one JSON object')
    .action(action(async (model: string | undefined, o: Flags) => {
      const path = model === undefined ? DEFAULT_MODEL : await resolveModelPath(model);
      const files = openModelFiles(path);
      const tty = process.stderr.isTTY && o.stats;
      const summary = summarizeModel(files, {
        tensors: o.tensors, stats: o.stats,
        onStats: tty ? (done, total) => process.stderr.write(`\rweight statistics: ${done}/${total} tensors`) : undefined,
      });
      if (tty) process.stderr.write('\r\x1b[K');
      process.stdout.write(o.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
      const corrupt = summary.audit?.corrupt ?? [];
      if (corrupt.length > 0) {
        const list = corrupt.length > 3 ? `${corrupt.slice(0, 3).join(', ')} and ${corrupt.length - 3} more` : corrupt.join(', ');
        throw new Llama4Error(`weight audit: NaN/Inf values in ${corrupt.length} tensor${corrupt.length === 1 ? '' : 's'} (${list}); the checkpoint is corrupt`, { source: path });
      }
    }));
}
