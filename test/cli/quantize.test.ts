/**
 * `llama4 quantize` and `--quant` through the built CLI: the written GGUF runs with `generate`
 * and gives the same tokens as the model quantized at load; bad input is one `llama4:` line and
 * exit status 1, with no output file left behind.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readGguf } from '../../src/io/gguf.js';
import { modelDir, readGolden } from '../support/fixtures.js';
import { describeResult, runCli, scratchDir, type CliResult } from './helpers.js';

const TIMEOUT_MS = 30_000;
const scratch = scratchDir('cli-quantize');
after(() => scratch.cleanup());
const at = (name: string) => join(scratch.dir, name);

function expectOneLineError(r: CliResult, pattern: RegExp, label: string): void {
  const info = `${label}: ${describeResult(r)}`;
  assert.equal(r.timedOut, false, `hung: ${info}`);
  assert.equal(r.status, 1, `exit status: ${info}`);
  assert.equal(r.stdout, '', `nothing on stdout: ${info}`);
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  assert.equal(lines.length, 1, `one line on stderr: ${info}`);
  assert.match(lines[0], /^llama4: /, info);
  assert.match(lines[0], pattern, info);
}

describe('llama4 quantize', () => {
  for (const [model, type] of [['llama4-tiny-moe', 'q8_0'], ['llama3-small-kq', 'q4_k_m']] as const) {
    it(`${model} --type ${type}: writes a GGUF that generate runs, with the tokens of --quant at load`, async () => {
      const out = at(`${model}-${type}.gguf`);
      const q = await runCli(['quantize', modelDir(model), '--type', type, '-o', out], { timeoutMs: TIMEOUT_MS });
      assert.equal(q.status, 0, describeResult(q));
      assert.equal(q.stdout, '');
      assert.match(q.stderr, /\] token_embd\.weight /, 'progress per tensor on stderr');
      assert.match(q.stderr, /wrote .*tensors/);
      const g = readGguf(out);
      assert.equal(g.metadata.get('general.architecture'), model.startsWith('llama4') ? 'llama4' : 'llama');
      assert.equal(g.metadata.get('general.file_type'), type === 'q8_0' ? 7 : 15);
      assert.deepEqual(readdirSync(scratch.dir).filter((f) => f.includes('.partial-')), [], 'no temporary file left');

      const ids = readGolden(model, 'short.f32.json').prompt_token_ids.join(',');
      const gen = (args: string[]) => runCli(['generate', ...args, '--ids', ids, '--max-tokens', '8', '--json'], { timeoutMs: TIMEOUT_MS });
      const fromFile = await gen([out]);
      assert.equal(fromFile.status, 0, describeResult(fromFile));
      const atLoad = await gen([modelDir(model), '--quant', type === 'q4_k_m' ? 'q4_k' : type]);
      assert.equal(atLoad.status, 0, describeResult(atLoad));
      const a = JSON.parse(fromFile.stdout) as { ids: number[] };
      const b = JSON.parse(atLoad.stdout) as { ids: number[] };
      assert.equal(a.ids.length, 8);
      assert.deepEqual(a.ids, b.ids);
      if (type === 'q8_0') {
        // Q8_0 bytes equal llama.cpp's: the greedy tokens of its dequant-f32 golden.
        assert.deepEqual(a.ids, readGolden(model, 'short.q8_0.dequant-f32.json').greedy_continuation_ids.slice(0, 8));
      }
    });
  }
});

describe('llama4 quantize / --quant: bad input', () => {
  const moe = modelDir('llama4-tiny-moe');
  const gguf = join(moe, 'llama4-tiny-moe-q8_0.gguf');
  mkdirSync(at('empty'), { recursive: true });
  const cases: { name: string; args: string[]; problem: RegExp }[] = [
    { name: 'unknown --type', args: ['quantize', moe, '--type', 'q3_k', '-o', at('x.gguf')], problem: /'q3_k' is invalid.*q8_0, q4_0, q4_k_m, q6_k/ },
    { name: 'missing --type', args: ['quantize', moe, '-o', at('x.gguf')], problem: /--type/ },
    { name: 'output in a missing folder', args: ['quantize', moe, '--type', 'q8_0', '-o', at('no/such/dir/x.gguf')], problem: /x\.gguf: cannot write the output: folder .*no\/such\/dir does not exist/ },
    { name: 'a GGUF as input', args: ['quantize', gguf, '--type', 'q8_0', '-o', at('x.gguf')], problem: /llama4-tiny-moe-q8_0\.gguf: is a GGUF file; llama4 quantize converts Hugging Face folders/ },
    { name: 'a non-model folder', args: ['quantize', at('empty'), '--type', 'q8_0', '-o', at('x.gguf')], problem: /empty: not a model folder \(no config\.json\)/ },
    { name: 'a missing input', args: ['quantize', at('nothing-here'), '--type', 'q8_0', '-o', at('x.gguf')], problem: /nothing-here: no such file or folder/ },
    { name: '--quant on a quantized GGUF', args: ['generate', gguf, '--ids', '1,2', '--quant', 'q4_0'], problem: /llama4-tiny-moe-q8_0\.gguf: tensor '.*' is already Q8_0; quantizing to q4_0 needs an F32, F16 or BF16 model/ },
    { name: 'unknown --quant', args: ['generate', moe, '--ids', '1,2', '--quant', 'q5_k'], problem: /'q5_k' is invalid/ },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 1, one llama4: line`, async () => {
      expectOneLineError(await runCli(c.args, { timeoutMs: TIMEOUT_MS }), c.problem, c.name);
      assert.equal(existsSync(at('x.gguf')), false, 'no output written');
    });
  }
});
