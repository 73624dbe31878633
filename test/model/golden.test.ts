/**
 * End-to-end fidelity: every fixture model, from its HF folder and from every GGUF type, against
 * llama.cpp's golden logits (atol 1e-4 on every stored position) and its 32-token greedy
 * continuation (exact), with the prompt in one batch and each generated token decoded alone.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel, type LoadedModel } from '../../src/load.js';
import type { Backend } from '../../src/backend/backend.js';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { WasmBackend } from '../../src/backend/wasm/wasm-backend.js';
import { MODELS, ggufTypes, goldenFileFor, modelDir, readGolden, type FixtureModel } from '../support/fixtures.js';

const ATOL = 1e-4;
/** Largest |Δlogit| seen per source, printed at the end for the issue note. */
const measured: string[] = [];

function check(m: LoadedModel, model: FixtureModel, goldenFile: string, label: string): void {
  const g = readGolden(model, goldenFile);
  const V = m.config.vocabSize;
  assert.equal(V, g.n_vocab);
  const ids = g.prompt_token_ids;
  const cache = m.model.newCache(ids.length + g.greedy_continuation_ids.length);
  const logits = m.model.forward(cache, ids, { logits: g.logits_positions });
  let maxDiff = 0;
  g.logits_positions.forEach((p, r) => {
    for (let i = 0; i < V; i++) {
      const d = Math.abs(logits[r * V + i] - g.logits[r][i]);
      if (!(d <= ATOL)) assert.fail(`${label}: logit ${i} at position ${p} is ${logits[r * V + i]}, golden ${g.logits[r][i]}`);
      maxDiff = Math.max(maxDiff, d);
    }
  });
  // Greedy: argmax (ties → lowest id) after the prompt, then after each token fed back alone.
  const lastRow = g.logits_positions.indexOf(ids.length - 1);
  assert.ok(lastRow >= 0, 'golden stores the last prompt position');
  let next = logits.subarray(lastRow * V, (lastRow + 1) * V);
  const out: number[] = [];
  for (let s = 0; s < g.greedy_continuation_ids.length; s++) {
    let best = 0;
    for (let i = 1; i < V; i++) if (next[i] > next[best]) best = i;
    out.push(best);
    next = m.model.forward(cache, [best]);
  }
  assert.deepEqual(out, g.greedy_continuation_ids, `${label}: greedy continuation`);
  measured.push(`${label.padEnd(56)} max|Δlogit| = ${maxDiff.toExponential(2)}`);
}

/** The same goldens for every backend: the reference and the wasm kernels (2 threads). */
const BACKENDS: { name: string; make: () => Promise<Backend> }[] = [
  { name: 'ref', make: async () => new RefBackend() },
  { name: 'wasm', make: () => WasmBackend.create({ threads: 2, precision: 'exact' }) },
];

for (const { name: backendName, make } of BACKENDS) {
  for (const model of MODELS) {
    describe(`golden ${model} [${backendName}]`, () => {
      describe('HF folder (safetensors)', () => {
        let m: LoadedModel;
        before(async () => { m = await loadModel(modelDir(model), { backend: await make() }); });
        for (const c of ['short', 'medium'] as const) {
          it(`${c}: f32 logits within ${ATOL} and greedy ids identical`, () => check(m, model, `${c}.f32.json`, `[${backendName}] ${model} hf ${c}`));
        }
      });
      for (const type of ggufTypes(model)) {
        describe(`GGUF ${type}`, () => {
          let m: LoadedModel;
          before(async () => { m = await loadModel(join(modelDir(model), `${model}-${type}.gguf`), { backend: await make() }); });
          for (const c of ['short', 'medium'] as const) {
            const file = goldenFileFor(type, c);
            it(`${c}: ${file} logits within ${ATOL} and greedy ids identical`, () => check(m, model, file, `[${backendName}] ${model} gguf ${type} ${c}`));
          }
        });
      }
    });
  }
}

describe('measured', () => {
  it('prints the largest |Δlogit| per source', () => {
    process.stdout.write(`${measured.join('\n')}\n`);
    assert.ok(measured.length > 0);
  });
});
