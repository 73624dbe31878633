/**
 * Fixture repositories for the fake hub (built from fixtures/), and spawning the CLI with a hub
 * environment (HF_ENDPOINT → the fake hub, HF_HOME → a temp folder, no token, online).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGguf } from '../../src/io/gguf.js';
import { ggufMetadataEntries, writeGguf } from '../../src/io/gguf-writer.js';
import { CLI } from '../cli/helpers.js';
import { FIXTURES, ROOT } from '../support/fixtures.js';
import type { FakeFile, FakeRepo } from './fake-hub.js';

export const MOE_DIR = join(FIXTURES, 'llama4-tiny-moe');

export const LICENSE_TEXT = 'LLAMA 4 COMMUNITY LICENSE AGREEMENT\nLlama 4 Version Effective Date: April 5, 2025\n(test copy)\n';
export const README_HF = '---\nlicense: other\nlicense_name: llama4\nlibrary_name: transformers\nextra_gated_prompt: "accept"\n---\n\n# Tiny Llama 4 (test)\n';
export const README_GGUF = '---\nlicense: llama4\nbase_model: test/llama4-tiny-moe\n---\n\n# GGUF (test)\n';

const file = (path: string, data: Buffer | string, lfs?: boolean): FakeFile => ({ path, data: Buffer.isBuffer(data) ? data : Buffer.from(data), lfs });

/** The HF files of a fixture folder (everything but golden/ and the GGUFs). */
export function hfFiles(dir = MOE_DIR): FakeFile[] {
  return readdirSync(dir).filter((n) => n.endsWith('.json') || n.endsWith('.safetensors')).sort().map((n) => file(n, readFileSync(join(dir, n))));
}

/** `test/llama4-tiny-moe`: the HF folder as Meta publishes it (model card, licence, an `original/` checkpoint to skip). */
export function hfRepo(id = 'test/llama4-tiny-moe', extra: Partial<FakeRepo> = {}): FakeRepo {
  return {
    id,
    files: [
      ...hfFiles(),
      file('README.md', README_HF), file('LICENSE', LICENSE_TEXT), file('USE_POLICY.md', '# Llama 4 Acceptable Use Policy (test copy)\n'),
      file('.gitattributes', '*.safetensors filter=lfs diff=lfs merge=lfs -text\n'),
      file('original/consolidated.00.pth', Buffer.alloc(4096, 7)), file('original/params.json', '{}'),
    ],
    ...extra,
  };
}

/** Splits a safetensors file into shards (tensors in order, about evenly) plus an index. */
export function shardSafetensors(path: string, shards: number): FakeFile[] {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const per = Math.ceil(names.length / shards);
  const out: FakeFile[] = [];
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const shardName = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    const parts: Buffer[] = [];
    let off = 0;
    for (const name of names.slice(s * per, (s + 1) * per)) {
      const e = header[name];
      const data = buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]);
      h[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + data.length] };
      parts.push(data);
      off += data.length;
      weightMap[name] = shardName;
    }
    let json = Buffer.from(JSON.stringify(h));
    json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    out.push(file(shardName, Buffer.concat([len, json, ...parts])));
  }
  out.push(file('model.safetensors.index.json', JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2)));
  return out;
}

/** `test/llama4-tiny-moe-sharded`: the same model in 3 shards with an index. */
export function shardedRepo(): FakeRepo {
  return {
    id: 'test/llama4-tiny-moe-sharded',
    files: [...hfFiles().filter((f) => f.path !== 'model.safetensors'), ...shardSafetensors(join(MOE_DIR, 'model.safetensors'), 3), file('LICENSE', LICENSE_TEXT)],
  };
}

/** `test/llama4-tiny-moe-GGUF`: every GGUF of the fixture, a model card and a vision projector to skip. */
export function ggufRepo(): FakeRepo {
  const ggufs = readdirSync(MOE_DIR).filter((n) => n.endsWith('.gguf')).sort().map((n) => file(n, readFileSync(join(MOE_DIR, n))));
  return { id: 'test/llama4-tiny-moe-GGUF', files: [...ggufs, file('README.md', README_GGUF), file('mmproj-llama4-tiny-moe-f16.gguf', Buffer.alloc(2048, 1))] };
}

/** Writes the f32 GGUF as a 2-part split GGUF (llama-gguf-split's layout) into `dir`; returns both parts. */
export function splitGguf(dir: string): FakeFile[] {
  const src = readGguf(join(MOE_DIR, 'llama4-tiny-moe-f32.gguf'));
  const tensors = [...src.tensors.values()];
  const half = Math.ceil(tensors.length / 2);
  const parts = [tensors.slice(0, half), tensors.slice(half)];
  return parts.map((ts, i) => {
    const name = `F32/llama4-tiny-moe-F32-${String(i + 1).padStart(5, '0')}-of-00002.gguf`;
    const split = [['split.no', i, 'uint16'], ['split.count', 2, 'uint16'], ['split.tensors.count', tensors.length, 'int32']] as const;
    const metadata = i === 0 ? [...ggufMetadataEntries(src), ...split] : [...split];
    const out = join(dir, `part${i}.gguf`);
    writeGguf(out, { metadata, tensors: ts.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.bytes })) });
    return file(name, readFileSync(out));
  });
}

export interface Run { status: number | null; stdout: string; stderr: string; timedOut: boolean }

/** Runs the CLI with HF_ENDPOINT/HF_HOME set (and every other HF_* variable cleared unless given). */
/** This process's environment without any HF_* / HUGGING* variable. */
export function cleanEnv(): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('HF_') && !k.startsWith('HUGGING')) base[k] = v;
  return base;
}

export function runHub(args: readonly string[], env: Record<string, string>, timeoutMs = 30_000): Promise<Run> {
  const base = cleanEnv();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, LLAMA4_DEBUG: '', ...env } });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr, timedOut }); });
  });
}

export function describeRun(r: Run): string {
  return `status ${r.status}${r.timedOut ? ' (timed out)' : ''}\n--- stderr ---\n${r.stderr}--- stdout ---\n${r.stdout.slice(0, 800)}`;
}

export function tempHome(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `llama4-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
