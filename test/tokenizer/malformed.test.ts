/** Broken tokenizer inputs must fail with a Llama4Error that names the file and the problem. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Llama4Error } from '../../src/errors.js';
import { loadHfTokenizer, tokenizerFromGguf } from '../../src/tokenizer/index.js';
import { ggufMetadata, modelDir } from './helpers.js';

/** Matches a Llama4Error whose message contains every fragment. */
function llama4Error(...fragments: (string | RegExp)[]): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof Llama4Error, `expected a Llama4Error, got ${String(err)}`);
    for (const f of fragments) {
      if (typeof f === 'string') assert.ok(err.message.includes(f), `"${err.message}" lacks "${f}"`);
      else assert.match(err.message, f);
    }
    return true;
  };
}

describe('loadHfTokenizer on broken folders', () => {
  const root = mkdtempSync(join(tmpdir(), 'llama4-tok-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const good = JSON.parse(readFileSync(join(modelDir('llama3-tiny'), 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  let n = 0;
  /** A folder holding the given files (objects are written as JSON). */
  const folder = (files: Record<string, unknown>): string => {
    const dir = join(root, String(n++));
    mkdirSync(dir);
    for (const [name, content] of Object.entries(files)) {
      writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
    }
    return dir;
  };

  test('missing tokenizer.json', async () => {
    const dir = folder({});
    await assert.rejects(loadHfTokenizer(dir), llama4Error(join(dir, 'tokenizer.json'), 'not found'));
  });

  test('tokenizer.json that is not JSON', async () => {
    const dir = folder({ 'tokenizer.json': '{"model": ' });
    await assert.rejects(loadHfTokenizer(dir), llama4Error(join(dir, 'tokenizer.json'), 'invalid JSON'));
  });

  test('tokenizer_config.json that is not JSON', async () => {
    const dir = folder({ 'tokenizer.json': good, 'tokenizer_config.json': 'nope' });
    await assert.rejects(loadHfTokenizer(dir), llama4Error(join(dir, 'tokenizer_config.json'), 'invalid JSON'));
  });

  test('a non-BPE model is not supported', async () => {
    const dir = folder({ 'tokenizer.json': { ...good, model: { type: 'Unigram', vocab: [] } } });
    await assert.rejects(loadHfTokenizer(dir), llama4Error('tokenizer.json', '"Unigram"', 'not supported'));
  });

  test('merges that do not fit the vocabulary', async () => {
    const model = good.model as Record<string, unknown>;
    const dir = folder({ 'tokenizer.json': { ...good, model: { ...model, merges: ['Ġ Ġ', 'xyz_unknown q'] } } });
    await assert.rejects(loadHfTokenizer(dir), llama4Error(join(dir, 'tokenizer.json'), 'merge #1', 'xyz_unknown'));
  });

  test('an eos_token that is not in the vocabulary', async () => {
    const dir = folder({ 'tokenizer.json': good, 'tokenizer_config.json': { eos_token: '<|nope|>' } });
    await assert.rejects(loadHfTokenizer(dir), llama4Error('tokenizer_config.json', '<|nope|>'));
  });

  test('a config.json vocab_size smaller than the tokenizer', async () => {
    const dir = folder({ 'tokenizer.json': good, 'config.json': { vocab_size: 10 } });
    await assert.rejects(loadHfTokenizer(dir), llama4Error('config.json', 'vocab_size 10'));
  });
});

describe('tokenizerFromGguf on broken metadata', () => {
  const source = '/models/broken.gguf';
  const edit = (change: (m: Map<string, unknown>) => void): Map<string, unknown> => {
    const m = new Map(ggufMetadata('llama4-tiny-moe'));
    change(m);
    return m;
  };

  test('no tokenizer.ggml.tokens', () => {
    const m = edit((x) => x.delete('tokenizer.ggml.tokens'));
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'tokenizer.ggml.tokens'));
  });

  test('no vocabulary at all', () => {
    const m = edit((x) => { for (const k of [...x.keys()]) if (k.startsWith('tokenizer.')) x.delete(k); });
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'tokenizer.ggml.model'));
  });

  test('a SentencePiece vocabulary is reported as not supported', () => {
    const m = edit((x) => x.set('tokenizer.ggml.model', 'llama'));
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'SentencePiece', 'not supported'));
  });

  test('an unknown pre-tokenizer is reported', () => {
    const m = edit((x) => x.set('tokenizer.ggml.pre', 'qwen2'));
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, '"qwen2"', 'not supported'));
  });

  test('merges that do not fit the tokens', () => {
    const m = edit((x) => x.set('tokenizer.ggml.merges', ['Ġ Ġ', 'Ġ zzz_missing']));
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'merge #1', 'zzz_missing'));
  });

  test('a merge that is not a pair', () => {
    const m = edit((x) => x.set('tokenizer.ggml.merges', ['ĠĠ']));
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'tokenizer.ggml.merges[0]'));
  });

  test('token types of the wrong length', () => {
    const m = edit((x) => x.set('tokenizer.ggml.token_type', [1, 1, 1]));
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'tokenizer.ggml.token_type'));
  });

  test('a special id outside the vocabulary', () => {
    const m = edit((x) => x.set('tokenizer.ggml.eos_token_id', 5000));
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'eos token id 5000', '832'));
  });

  test('duplicate token texts', () => {
    const m = edit((x) => {
      const tokens = [...(x.get('tokenizer.ggml.tokens') as string[])];
      tokens[5] = tokens[4];
      x.set('tokenizer.ggml.tokens', tokens);
    });
    assert.throws(() => tokenizerFromGguf(m, source), llama4Error(source, 'ids 4 and 5'));
  });
});
