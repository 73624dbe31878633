/**
 * `llama4 serve` as a process: it binds to loopback, says where it listens, serves the model
 * under its alias with an API key, and exits cleanly on SIGTERM; a missing model is one error line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import { CLI, runCli } from '../cli/helpers.js';
import { ROOT } from '../support/fixtures.js';
import { MODEL_DIR } from './helpers.js';

describe('llama4 serve', () => {
  it('serves the model on loopback with an alias and a key, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', MODEL_DIR, '--port', '0', '--api-key', 'k1', '--model-alias', 'tiny', '--parallel', '2', '--ctx-size', '256', '--threads', '1'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "ready" line: ${stderr}`)), 20_000);
        child.stderr.on('data', (d: string) => {
          stderr += d;
          const m = /ready on (http:\/\/\S+)/.exec(stderr);
          if (m) { clearTimeout(timer); resolve(m[1]); }
        });
        child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(await fetch(`${url}/health`).then((r) => r.json()), { status: 'ok', slots_idle: 2, slots_processing: 0, queue_depth: 0 });
      const api = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'k1', maxRetries: 0 });
      assert.deepEqual((await api.models.list()).data.map((x) => x.id), ['tiny']);
      for (const model of ['tiny', 'llama4-tiny-moe']) {
        const res = await api.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3 });
        assert.equal(res.model, 'tiny');
      }
      assert.equal((await fetch(`${url}/v1/models`)).status, 401);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('a missing model is one error line and exit status 1', async () => {
    const r = await runCli(['serve', 'no/such/model', '--port', '0']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /llama4: no\/such\/model: no such file or folder\n$/);
  });
});
