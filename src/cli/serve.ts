/** `llama4 serve <model>`: an OpenAI-compatible HTTP server (see src/server/). */
import type { Command } from 'commander';
import type { LoadQuantType } from '../quant/quantize-model.js';
import { startServer } from '../server/server.js';
import { action, int, makeBackend, resolveModelPath, BACKEND_OPTION, precisionOption, THREADS_OPTION, QUANT_OPTION } from './common.js';

interface Flags {
  host: string; port: number; apiKey?: string; parallel: number; ctxSize?: number; queueSize: number;
  modelAlias?: string; backend?: string; threads?: number; precision?: string; quant?: LoadQuantType;
}

export function registerServe(program: Command): void {
  program.command('serve')
    .description('serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, …)')
    .argument('<model>', 'HF folder, .gguf file or Hugging Face repo id')
    .option('--host <address>', 'address to bind (default: loopback only)', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', int('--port', 0), 8080)
    .option('--api-key <key>', 'require "Authorization: Bearer KEY" on every route except /health')
    .option('--parallel <n>', 'sequences generated together (slots, one KV cache each)', int('--parallel', 1), 4)
    .option('--ctx-size <n>', 'context size of each slot in tokens (default: the model\'s, at most 8192)', int('--ctx-size', 2))
    .option('--queue-size <n>', 'requests that may wait for a slot before the server answers 429', int('--queue-size', 0), 64)
    .option('--model-alias <name>', 'the model\'s name in the API (default: the file or folder name)')
    .addOption(BACKEND_OPTION).addOption(precisionOption('fast')).addOption(THREADS_OPTION).addOption(QUANT_OPTION)
    .action(action(async (modelArg: string, o: Flags) => {
      const modelPath = await resolveModelPath(modelArg); // a repo id is pulled into the HF cache first
      const server = await startServer({
        model: modelPath, loadOptions: { backend: await makeBackend(o), quant: o.quant },
        host: o.host, port: o.port, apiKey: o.apiKey, parallel: o.parallel, ctxSize: o.ctxSize,
        queueSize: o.queueSize, modelAlias: o.modelAlias, waitForModel: false,
      });
      process.stderr.write(`llama4: listening on ${server.url} (OpenAI base URL ${server.url}/v1), loading ${modelPath}\n`);
      const stop = () => { void server.close().then(() => process.exit(0)); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await server.ready;
      } catch (err) {
        await server.close();
        throw err;
      }
      process.stderr.write(`llama4: model loaded; ready on ${server.url}\n`);
    }));
}
