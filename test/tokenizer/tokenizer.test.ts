/**
 * Golden tests against llama.cpp's tokenizer for both loaders (tokenizer.json and the GGUF vocab),
 * and agreement between the two loaders.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Llama4Error } from '../../src/errors.js';
import {
  LLAMA3_PRETOKENIZER_PATTERN, LLAMA4_PRETOKENIZER_PATTERN, TextTokenizer, TokenType, loadHfTokenizer,
  tokenizerFromGguf,
} from '../../src/tokenizer/index.js';
import {
  MODELS, REPO_ROOT, ggufMetadata, ggufPath, goldenChat, goldenStrings, hex, modelDir, readJson, type Model,
} from './helpers.js';

const sorted = (s: ReadonlySet<number>): number[] => [...s].sort((a, b) => a - b);

for (const model of MODELS) {
  describe(`${model} tokenizer`, () => {
    let hf: TextTokenizer;
    let gguf: TextTokenizer;
    before(async () => {
      hf = await loadHfTokenizer(modelDir(model));
      gguf = tokenizerFromGguf(ggufMetadata(model), ggufPath(model));
    });
    const loaders = (): [string, TextTokenizer][] => [['tokenizer.json', hf], ['gguf', gguf]];

    test('encode matches llama.cpp for every golden string and flag combination', () => {
      for (const [name, tok] of loaders()) {
        for (const g of goldenStrings(model)) {
          const at = `${name}: ${JSON.stringify(g.text)}`;
          assert.deepEqual(tok.encode(g.text), g.ids, at);
          assert.deepEqual(tok.encode(g.text, { addBos: false }), g.ids_no_bos, at);
          assert.deepEqual(tok.encode(g.text, { parseSpecial: false }), g.ids_no_parse_special, at);
          assert.deepEqual(tok.encode(g.text, { addBos: false, parseSpecial: false }), g.ids_no_bos_no_parse_special, at);
        }
      }
    });

    test('tokenBytes matches llama_token_to_piece and decode matches llama_detokenize', () => {
      for (const [name, tok] of loaders()) {
        for (const g of goldenStrings(model)) {
          assert.deepEqual(g.ids.map((id) => hex(tok.tokenBytes(id))), g.pieces_hex, name);
          assert.equal(tok.decode(g.ids), g.detokenized, name);
          // Without special parsing the text's literal `<|eot|>` stays text, so only BOS is skipped.
          assert.equal(tok.decode(g.ids_no_parse_special, { skipSpecial: true }), g.text, name);
        }
      }
    });

    test('the rendered chat prompt tokenizes to the golden token_ids', () => {
      const chat = goldenChat(model);
      for (const [name, tok] of loaders()) assert.deepEqual(tok.encode(chat.rendered), chat.token_ids, name);
    });

    test('special ids equal llama.cpp\'s', () => {
      const v = goldenChat(model).vocab;
      for (const [name, tok] of loaders()) {
        assert.equal(tok.vocabSize, v.n_tokens, name);
        assert.equal(tok.bosId, v.bos, name);
        assert.equal(tok.eosId, v.eos, name);
        assert.equal(tok.eotId, v.eot, name);
        assert.equal(tok.padId, v.pad, name);
        assert.equal(tok.addBos, v.add_bos, name);
        assert.equal(tok.addEos, v.add_eos, name);
        assert.deepEqual(sorted(tok.eogIds), v.eog_ids, name);
        assert.deepEqual(sorted(tok.specialIds), v.control_ids, name);
      }
    });

    test('stopIds = eogIds plus generation_config eos ids (adds <|eom|> for Llama 4)', () => {
      const gen = readJson<{ eos_token_id: number[] }>(join(modelDir(model), 'generation_config.json'));
      for (const [name, tok] of loaders()) {
        assert.deepEqual(sorted(tok.stopIds), [...gen.eos_token_id].sort((a, b) => a - b), name);
        for (const id of tok.eogIds) assert.ok(tok.stopIds.has(id), name);
      }
      if (model.startsWith('llama4')) {
        const eom = hf.tokenId('<|eom|>') as number;
        assert.ok(hf.stopIds.has(eom) && !hf.eogIds.has(eom));
      }
    });

    test('both loaders hold the same vocabulary, id for id', () => {
      assert.equal(hf.vocabSize, gguf.vocabSize);
      for (let id = 0; id < hf.vocabSize; id++) {
        assert.equal(hf.idToToken(id), gguf.idToToken(id), `id ${id}`);
        assert.equal(hf.tokenType(id), gguf.tokenType(id), `id ${id}`);
        assert.deepEqual(hf.tokenBytes(id), gguf.tokenBytes(id), `id ${id}`);
      }
      assert.deepEqual(sorted(hf.stopIds), sorted(gguf.stopIds));
    });

    test('padding ids past tokenizer.json exist and decode to nothing', () => {
      const last = hf.vocabSize - 1;
      if (hf.tokenType(last) === TokenType.Unused) {
        assert.equal(hf.idToToken(last), `[PAD${last}]`);
        assert.equal(hf.tokenBytes(last).length, 0);
        assert.equal(hf.decode([last]), '');
      }
    });

    test('long text: encode → decode is the identity and both loaders agree', () => {
      const text = readFileSync(join(REPO_ROOT, 'fixtures', 'README.md'), 'utf8');
      const ids = hf.encode(text);
      assert.ok(ids.length > 1000);
      assert.deepEqual(gguf.encode(text), ids);
      for (const tok of [hf, gguf]) {
        // The README spells out special tokens such as `<|eot|>`; they become control ids and back.
        assert.equal(tok.decode(ids), tok.idToToken(tok.bosId as number) + text);
        assert.equal(tok.decode(tok.encode(text, { addBos: false, parseSpecial: false })), text);
      }
    });

    test('edge strings round-trip and agree between loaders', () => {
      const cases = ['', ' ', '\n', '\r\n\r\n', '\t \t', '\uFEFFBOM first', 'a'.repeat(3000), '💩🏳️‍🌈 ok',
        '<|begin_of_text|><|begin_of_text|>', '<|eot', '1234567890123', "I'M WE'VE 'S"];
      for (const text of cases) {
        const ids = hf.encode(text, { addBos: false });
        assert.deepEqual(gguf.encode(text, { addBos: false }), ids, JSON.stringify(text));
        assert.equal(hf.decode(ids), text, JSON.stringify(text));
      }
      assert.deepEqual(hf.encode(''), hf.bosId === null ? [] : [hf.bosId]);
    });

    test('ids out of range throw a Llama4Error naming the id and the vocabulary size', () => {
      for (const bad of [hf.vocabSize, -1, 1.5, Number.NaN]) {
        for (const call of [() => hf.decode([0, bad]), () => hf.tokenBytes(bad), () => hf.idToToken(bad), () => gguf.decode([bad])]) {
          assert.throws(call, (err: unknown) =>
            err instanceof Llama4Error && err.message.includes(String(bad)) && err.message.includes(String(hf.vocabSize)));
        }
      }
    });

    test('tokenId/idToToken are inverse for every token', () => {
      for (let id = 0; id < hf.vocabSize; id++) assert.equal(hf.tokenId(hf.idToToken(id)), id);
      assert.equal(hf.tokenId('no such token'), null);
    });
  });
}

test('the GGUF pre-tokenizer patterns are the ones in the fixtures\' tokenizer.json', () => {
  const patternOf = (model: Model): string => {
    const json = readJson<{ pre_tokenizer: { pretokenizers: { pattern?: { Regex: string } }[] } }>(
      join(modelDir(model), 'tokenizer.json'));
    return json.pre_tokenizer.pretokenizers[0].pattern?.Regex ?? '';
  };
  assert.equal(patternOf('llama4-tiny-moe'), LLAMA4_PRETOKENIZER_PATTERN);
  assert.equal(patternOf('llama3-tiny'), LLAMA3_PRETOKENIZER_PATTERN);
});

test('the 256 byte tokens decode to the 256 distinct bytes', async () => {
  const tok = await loadHfTokenizer(modelDir('llama3-tiny'));
  const seen = new Set<number>();
  for (let id = 0; id < 256; id++) {
    const b = tok.tokenBytes(id);
    assert.equal(b.length, 1, `id ${id}`);
    seen.add(b[0]);
  }
  assert.equal(seen.size, 256);
  assert.deepEqual([...tok.tokenBytes(tok.tokenId('Ġ') as number)], [0x20]);
});

test('tokenBytes returns a copy', async () => {
  const tok = await loadHfTokenizer(modelDir('llama4-tiny-moe'));
  const b = tok.tokenBytes(300);
  b.fill(0);
  assert.notDeepEqual(tok.tokenBytes(300), b);
});

test('addEos appends EOS; a vocabulary without BOS refuses addBos', () => {
  const meta = new Map(ggufMetadata('llama3-tiny'));
  const tok = tokenizerFromGguf(meta, 'x.gguf');
  assert.deepEqual(tok.encode('a', { addBos: false, addEos: true }), [...tok.encode('a', { addBos: false }), tok.eosId]);
  meta.delete('tokenizer.ggml.bos_token_id');
  const noBos = tokenizerFromGguf(meta, 'x.gguf');
  assert.equal(noBos.bosId, null);
  assert.throws(() => noBos.encode('a'), /no BOS token/);
});
