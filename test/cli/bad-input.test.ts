/**
 * Every bad input to the CLI ends the same way: exit status 1, exactly one line on stderr that
 * starts with `llama4:` and names the file (where there is one) and the problem, no stack trace,
 * nothing on stdout, no hang. The broken models are fixture copies patched in a scratch folder.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readGguf } from '../../src/io/gguf.js';
import { ggufMetadataEntries, writeGguf, type GgufMetadataEntry, type GgufTensorToWrite } from '../../src/io/gguf-writer.js';
import { modelDir } from '../support/fixtures.js';
import { describeResult, runCli, scratchDir } from './helpers.js';

const MOE = modelDir('llama4-tiny-moe');
const GGUF_SRC = join(MOE, 'llama4-tiny-moe-q8_0.gguf');
const TIMEOUT_MS = 20_000;

const scratch = scratchDir('cli-bad-input');
after(() => scratch.cleanup());
const at = (name: string) => join(scratch.dir, name);

interface Case {
  readonly name: string;
  /** CLI arguments; built after the broken inputs exist. */
  readonly args: () => string[];
  /** Text the message must contain (the file at fault), if any. */
  readonly names?: () => string;
  /** The problem, as a pattern over the whole line. */
  readonly problem: RegExp;
}

async function expectFailure(c: Case): Promise<void> {
  const r = await runCli(c.args(), { timeoutMs: TIMEOUT_MS });
  const info = `${c.name}: ${describeResult(r)}`;
  assert.equal(r.timedOut, false, `hung: ${info}`);
  assert.equal(r.status, 1, `exit status: ${info}`);
  assert.equal(r.stdout, '', `nothing on stdout: ${info}`);
  assert.ok(r.stderr.endsWith('\n'), `stderr ends with a newline: ${info}`);
  const lines = r.stderr.slice(0, -1).split('\n');
  assert.equal(lines.length, 1, `exactly one line on stderr: ${info}`);
  const line = lines[0];
  assert.ok(line.startsWith('llama4: '), `starts with 'llama4: ': ${info}`);
  assert.doesNotMatch(line, /internal error|\bat .*\.js:\d+|\b(TypeError|RangeError|ReferenceError)\b/, `no stack trace or raw error: ${info}`);
  if (c.names) assert.ok(line.includes(c.names()), `names ${c.names()}: ${info}`);
  assert.match(line, c.problem, info);
}

// ---------------------------------------------------------------- GGUF builders

/** Byte position of the tensor-info record of `name` (its u64 name length) in a GGUF header. */
function tensorInfoAt(bytes: Buffer, name: string): { typeAt: number; offsetAt: number } {
  const nameBytes = Buffer.from(name, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(nameBytes.length));
  const start = bytes.indexOf(Buffer.concat([len, nameBytes]));
  assert.ok(start > 0, `tensor info of ${name} found`);
  const nDimsAt = start + 8 + nameBytes.length;
  const nDims = bytes.readUInt32LE(nDimsAt);
  const typeAt = nDimsAt + 4 + 8 * nDims;
  return { typeAt, offsetAt: typeAt + 4 };
}

/** Rewrites the fixture GGUF through the writer with edited metadata and tensors. */
function rewriteGguf(out: string, edit: (meta: GgufMetadataEntry[], tensors: GgufTensorToWrite[]) => void): void {
  const g = readGguf(GGUF_SRC);
  const meta = ggufMetadataEntries(g);
  const tensors: GgufTensorToWrite[] = g.tensorInfos.map((t) => {
    const d = g.tensors.get(t.name)!;
    return { name: d.name, dtype: d.dtype, shape: d.shape, bytes: d.bytes };
  });
  edit(meta, tensors);
  writeGguf(out, { metadata: meta, tensors });
}

function buildGgufCases(): void {
  const src = readFileSync(GGUF_SRC);
  const g = readGguf(GGUF_SRC);

  writeFileSync(at('truncated.gguf'), src.subarray(0, g.dataOffset + Math.floor((src.length - g.dataOffset) / 2)));

  const magic = Buffer.from(src);
  magic.write('GGUX', 0, 'latin1');
  writeFileSync(at('bad-magic.gguf'), magic);

  const badType = Buffer.from(src);
  badType.writeUInt32LE(99, tensorInfoAt(badType, 'blk.0.attn_q.weight').typeAt);
  writeFileSync(at('bad-type.gguf'), badType);

  const badOffset = Buffer.from(src);
  badOffset.writeBigUInt64LE(BigInt(Math.ceil(src.length / 32) * 32), tensorInfoAt(badOffset, 'blk.2.attn_k.weight').offsetAt);
  writeFileSync(at('bad-offset.gguf'), badOffset);

  rewriteGguf(at('gpt2.gguf'), (meta) => {
    const i = meta.findIndex(([k]) => k === 'general.architecture');
    meta[i] = ['general.architecture', 'gpt2', 'string'];
  });
  rewriteGguf(at('no-q.gguf'), (_meta, tensors) => {
    tensors.splice(tensors.findIndex((t) => t.name === 'blk.1.attn_q.weight'), 1);
  });
  rewriteGguf(at('bad-shape.gguf'), (_meta, tensors) => {
    const i = tensors.findIndex((t) => t.name === 'blk.0.attn_q.weight');
    assert.deepEqual(tensors[i].shape, [64, 64]);
    tensors[i] = { ...tensors[i], shape: [128, 32] };
  });
  rewriteGguf(at('no-block-count.gguf'), (meta) => {
    meta.splice(meta.findIndex(([k]) => k === 'llama4.block_count'), 1);
  });
}

// ---------------------------------------------------------------- HF builders

const Q0 = 'language_model.model.layers.0.self_attn.q_proj.weight';
const Q1 = 'language_model.model.layers.1.self_attn.q_proj.weight';

/** A copy of the fixture HF folder (no GGUFs), with `edit` applied. */
function hfCopy(name: string, edit: (dir: string) => void): void {
  const dir = at(name);
  mkdirSync(dir);
  for (const f of readdirSync(MOE)) if (f.endsWith('.json') || f.endsWith('.safetensors')) copyFileSync(join(MOE, f), join(dir, f));
  edit(dir);
}

function editJson(path: string, edit: (json: Record<string, any>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  edit(json);
  writeFileSync(path, JSON.stringify(json, null, 2));
}

/** Rewrites a safetensors header in place, padded to its old length so the data offsets hold. */
function editSafetensorsHeader(path: string, edit: (header: Record<string, any>) => void): void {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, any>;
  edit(header);
  const text = JSON.stringify(header);
  assert.ok(text.length <= n);
  bytes.write(text.padEnd(n, ' '), 8, 'utf8');
  writeFileSync(path, bytes);
}

function buildHfCases(): void {
  hfCopy('hf-bad-json', (d) => writeFileSync(join(d, 'config.json'), '{"architectures": ["Llama4ForConditionalGeneration"], '));
  hfCopy('hf-mistral', (d) => editJson(join(d, 'config.json'), (j) => { j.architectures = ['MistralForCausalLM']; j.model_type = 'mistral'; }));
  hfCopy('hf-wrong-type', (d) => editJson(join(d, 'config.json'), (j) => { j.text_config.num_hidden_layers = 'four'; }));
  hfCopy('hf-st-truncated', (d) => {
    const p = join(d, 'model.safetensors');
    const b = readFileSync(p);
    writeFileSync(p, b.subarray(0, Math.floor(b.length / 2)));
  });
  hfCopy('hf-st-header-len', (d) => {
    const p = join(d, 'model.safetensors');
    const b = readFileSync(p);
    b.writeBigUInt64LE(BigInt(b.length) * 4n, 0);
    writeFileSync(p, b);
  });
  hfCopy('hf-missing-tensor', (d) => editSafetensorsHeader(join(d, 'model.safetensors'), (h) => { delete h[Q1]; }));
  hfCopy('hf-wrong-shape', (d) => editSafetensorsHeader(join(d, 'model.safetensors'), (h) => {
    assert.deepEqual(h[Q0].shape, [64, 64]);
    h[Q0].shape = [32, 128];
  }));
  hfCopy('hf-no-tokenizer', (d) => rmSync(join(d, 'tokenizer.json')));
  hfCopy('hf-empty-tokenizer', (d) => writeFileSync(join(d, 'tokenizer.json'), ''));
  hfCopy('hf-bad-template', (d) => editJson(join(d, 'tokenizer_config.json'), (j) => {
    j.chat_template = '{% for m in messages %}{{ m.content }{% endfor %}';
  }));
}

before(() => {
  buildGgufCases();
  buildHfCases();
  writeFileSync(at('ids-not-json.json'), '[1, 2, 3');
  writeFileSync(at('ids-not-ids.json'), '{"tokens": [1, 2]}');
});

describe('bad GGUF files', { concurrency: 2 }, () => {
  const cases: Case[] = [
    { name: 'truncated in the tensor data', args: () => ['logits', at('truncated.gguf'), '--ids', '1'], names: () => at('truncated.gguf'), problem: /tensor '.+' data ends at byte \d+ but the file has \d+ bytes \(truncated\?\)/ },
    { name: 'bad magic', args: () => ['generate', at('bad-magic.gguf'), '--ids', '1'], names: () => at('bad-magic.gguf'), problem: /not a GGUF file: it starts with 'GGUX'/ },
    { name: 'unknown tensor type id', args: () => ['logits', at('bad-type.gguf'), '--ids', '1'], names: () => at('bad-type.gguf'), problem: /tensor 'blk\.0\.attn_q\.weight' has ggml type 99 \(unknown\)/ },
    { name: 'tensor offset past the end', args: () => ['logits', at('bad-offset.gguf'), '--ids', '1'], names: () => at('bad-offset.gguf'), problem: /tensor 'blk\.2\.attn_k\.weight' data ends at byte \d+ but the file has \d+ bytes/ },
    { name: 'unsupported architecture', args: () => ['run', at('gpt2.gguf'), '-p', 'hi'], names: () => at('gpt2.gguf'), problem: /unsupported architecture 'gpt2' \(supported: llama4, llama\)/ },
    { name: 'a required tensor missing', args: () => ['logits', at('no-q.gguf'), '--ids', '1'], names: () => at('no-q.gguf'), problem: /missing tensor 'blk\.1\.attn_q\.weight'/ },
    { name: 'a tensor with the wrong shape', args: () => ['logits', at('bad-shape.gguf'), '--ids', '1'], names: () => at('bad-shape.gguf'), problem: /tensor 'blk\.0\.attn_q\.weight' has shape \[128, 32\], expected \[64, 64\]/ },
    { name: 'a missing metadata key', args: () => ['tokenize', at('no-block-count.gguf'), 'hi'], names: () => at('no-block-count.gguf'), problem: /GGUF is missing 'llama4\.block_count'/ },
  ];
  for (const c of cases) it(c.name, () => expectFailure(c));
});

describe('bad Hugging Face folders', { concurrency: 2 }, () => {
  const cfg = (d: string) => () => join(at(d), 'config.json');
  const st = (d: string) => () => join(at(d), 'model.safetensors');
  const cases: Case[] = [
    { name: 'config.json is not valid JSON', args: () => ['logits', at('hf-bad-json'), '--ids', '1'], names: cfg('hf-bad-json'), problem: /config\.json: invalid JSON/ },
    { name: 'unsupported architectures', args: () => ['run', at('hf-mistral'), '-p', 'hi'], names: cfg('hf-mistral'), problem: /unsupported architecture 'MistralForCausalLM'/ },
    { name: 'a config field of the wrong type', args: () => ['logits', at('hf-wrong-type'), '--ids', '1'], names: cfg('hf-wrong-type'), problem: /config field 'text_config\.num_hidden_layers' must be a non-negative integer \(got "four"\)/ },
    { name: 'safetensors truncated', args: () => ['logits', at('hf-st-truncated'), '--ids', '1'], names: st('hf-st-truncated'), problem: /data ends at byte \d+ of the data region, but the file holds only \d+ bytes of data \(truncated\?\)/ },
    { name: 'safetensors header length past the end', args: () => ['generate', at('hf-st-header-len'), '--ids', '1'], names: st('hf-st-header-len'), problem: /header length \d+ runs past the end of the file/ },
    { name: 'a missing tensor', args: () => ['logits', at('hf-missing-tensor'), '--ids', '1'], names: () => at('hf-missing-tensor'), problem: new RegExp(`missing tensor '${Q1.replace(/\./g, '\\.')}'`) },
    { name: 'a tensor with the wrong shape', args: () => ['logits', at('hf-wrong-shape'), '--ids', '1'], names: () => at('hf-wrong-shape'), problem: /has shape \[32, 128\], expected \[64, 64\]/ },
    { name: 'tokenizer.json missing', args: () => ['tokenize', at('hf-no-tokenizer'), 'hi'], names: () => join(at('hf-no-tokenizer'), 'tokenizer.json'), problem: /not found|no such file/i },
    { name: 'tokenizer.json empty', args: () => ['logits', at('hf-empty-tokenizer'), '--ids', '1'], names: () => join(at('hf-empty-tokenizer'), 'tokenizer.json'), problem: /JSON/ },
    { name: 'a chat template with a Jinja syntax error', args: () => ['run', at('hf-bad-template'), '-p', 'hi', '--max-tokens', '1'], names: () => join(at('hf-bad-template'), 'tokenizer_config.json'), problem: /invalid Jinja chat template/ },
  ];
  for (const c of cases) it(c.name, () => expectFailure(c));
});

describe('bad requests', { concurrency: 2 }, () => {
  const cases: Case[] = [
    { name: 'logits: token id out of range', args: () => ['logits', MOE, '--ids', '1,832'], problem: /token id 832 is out of range \(vocabulary has 832 tokens\)/ },
    { name: 'generate --ids: token id out of range', args: () => ['generate', MOE, '--ids', '5,99999', '--max-tokens', '2'], problem: /token id 99999 is out of range \(vocabulary has 832 tokens\)/ },
    { name: '--ids not numbers', args: () => ['logits', MOE, '--ids', '1,two'], problem: /--ids.*'1,two'.*comma-separated list of non-negative integers/ },
    { name: '--ids-file not JSON', args: () => ['logits', MOE, '--ids-file', at('ids-not-json.json')], names: () => at('ids-not-json.json'), problem: /invalid JSON/ },
    { name: '--ids-file without ids', args: () => ['generate', MOE, '--ids-file', at('ids-not-ids.json')], names: () => at('ids-not-ids.json'), problem: /expected a JSON array of token ids/ },
    { name: 'a nonexistent model path', args: () => ['logits', at('no-such-model'), '--ids', '1'], names: () => at('no-such-model'), problem: /no such file or folder/ },
    { name: 'a prompt longer than --ctx-size', args: () => ['generate', MOE, '--prompt', 'Everyone is permitted to copy this license.', '--ctx-size', '8'], problem: /the prompt has 16 tokens, but the context holds 8/ },
    { name: '--ctx-size not a number', args: () => ['generate', MOE, '--ids', '1', '--ctx-size', 'big'], problem: /--ctx-size/ },
  ];
  for (const c of cases) it(c.name, () => expectFailure(c));
});
