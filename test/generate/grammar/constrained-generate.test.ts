/**
 * Constrained decoding end to end on a fixture model (random weights: unconstrained, it writes
 * anything): generate() with a TokenConstraint yields JSON that fits the schema and ends by
 * itself; the vocabulary mask agrees with token-by-token checks.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, type LoadedModel } from '../../../src/load.js';
import { Session } from '../../../src/model/session.js';
import { generate } from '../../../src/generate/generator.js';
import { jsonSchemaGrammar } from '../../../src/generate/grammar/json-schema.js';
import { TokenConstraint } from '../../../src/generate/grammar/token-constraint.js';
import { modelDir } from '../../support/fixtures.js';

const SCHEMA = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 10 }, days: { type: 'integer' }, ok: { type: 'boolean' } },
  required: ['city', 'days'],
};

describe('constrained generation', () => {
  let m: LoadedModel;
  before(async () => { m = await loadModel(modelDir('llama3-tiny')); });

  it('generate() with a JSON-schema constraint: parseable, fitting JSON that ends with an end-of-generation token', async () => {
    const prompt = m.tokenizer.encode('Weather:');
    for (const sampling of [{ temperature: 0 }, { temperature: 1, seed: 7 }, { temperature: 2, seed: 8 }]) {
      const constraint = new TokenConstraint(jsonSchemaGrammar(SCHEMA), m.tokenizer, m.tokenizer.stopIds);
      const it = generate(new Session(m.model, 512), m.tokenizer, prompt, { maxTokens: 300, sampling, stopIds: m.tokenizer.stopIds, constraint });
      let r = await it.next();
      while (!r.done) r = await it.next();
      assert.equal(r.value.finishReason, 'stop', `${JSON.stringify(sampling)}: ${r.value.text}`);
      const v = JSON.parse(r.value.text) as Record<string, unknown>;
      assert.equal(typeof v.city, 'string');
      assert.ok([...(v.city as string)].length <= 10, "maxLength counts code points");
      assert.ok(Number.isInteger(v.days));
      assert.ok(!('ok' in v) || typeof v.ok === 'boolean');
      assert.ok(constraint.complete);
    }
  });

  it('mask() allows exactly the tokens allows() accepts, at several points of a reply', () => {
    const constraint = new TokenConstraint(jsonSchemaGrammar(SCHEMA), m.tokenizer, m.tokenizer.stopIds);
    const V = m.config.vocabSize;
    for (const step of ['{"', 'city', '": "Pa', 'ris", "days": 1', '2', '}']) {
      const logits = new Float32Array(V).fill(1);
      constraint.mask(logits);
      for (let id = 0; id < V; id++) assert.equal(logits[id] === 1, constraint.allows(id), `after …${step}: token ${id} ${JSON.stringify(m.tokenizer.idToToken(id))}`);
      assert.ok(logits.some((x) => x === 1), 'something is allowed');
      for (const id of m.tokenizer.encode(step, { addBos: false })) {
        assert.ok(constraint.allows(id), `${step}: token ${id}`);
        constraint.accept(id);
      }
    }
    assert.ok(constraint.complete);
    for (const id of m.tokenizer.stopIds) assert.ok(constraint.allows(id), 'the end is allowed once the JSON is complete');
  });
});
