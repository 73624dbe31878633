/**
 * The one weight-name table: every tensor the Llama model reads is declared once, with its shape
 * and its names in GGUF and in Hugging Face checkpoints. Loading maps a TensorSource through this
 * table into typed per-layer weights, fixing layout differences once:
 *  - HF Llama 3 q/k rows are permuted for rotate-half RoPE; they are put back in adjacent-pair order.
 *  - HF Llama 4 fused experts are input-major (`x @ W`); they are transposed to `[out, in]` rows.
 */
import type { Backend, Matrix } from '../backend/backend.js';
import type { ModelConfig } from '../config/model-config.js';
import type { DType, TensorData, TensorSource } from '../io/tensor.js';
import { Llama4Error } from '../errors.js';
import { dequantizeRow, rowBytes } from '../quant/formats.js';

export interface AttentionWeights {
  readonly norm: Float32Array;
  readonly q: Matrix;
  readonly k: Matrix;
  readonly v: Matrix;
  readonly o: Matrix;
}
export interface SwiGluWeights {
  readonly gate: Matrix;
  readonly up: Matrix;
  readonly down: Matrix;
}
export interface DenseFfnWeights extends SwiGluWeights {
  readonly kind: 'dense';
  readonly norm: Float32Array;
}
export interface MoeFfnWeights {
  readonly kind: 'moe';
  readonly norm: Float32Array;
  /** [nExperts, hidden] */
  readonly router: Matrix;
  readonly experts: readonly SwiGluWeights[];
  readonly shared: SwiGluWeights | null;
}
export interface LayerWeights {
  readonly attention: AttentionWeights;
  readonly ffn: DenseFfnWeights | MoeFfnWeights;
}
export interface LlamaWeights {
  /** [vocab, hidden] */
  readonly tokenEmbedding: Matrix;
  readonly layers: readonly LayerWeights[];
  readonly outputNorm: Float32Array;
  /** [vocab, hidden]; the embedding matrix itself when tied. */
  readonly output: Matrix;
}

/** Where a checkpoint came from decides names and layout fixes. */
export type WeightOrigin = 'gguf' | 'hf';

/** Names of one tensor in each origin; `{i}` is the layer index. */
interface NameRow { gguf: string; hf4: string; hf3: string }
const NAMES = {
  tokenEmbedding: { gguf: 'token_embd.weight', hf4: 'embed_tokens.weight', hf3: 'model.embed_tokens.weight' },
  outputNorm: { gguf: 'output_norm.weight', hf4: 'norm.weight', hf3: 'model.norm.weight' },
  output: { gguf: 'output.weight', hf4: 'lm_head.weight', hf3: 'lm_head.weight' },
  attnNorm: { gguf: 'blk.{i}.attn_norm.weight', hf4: 'layers.{i}.input_layernorm.weight', hf3: 'model.layers.{i}.input_layernorm.weight' },
  q: { gguf: 'blk.{i}.attn_q.weight', hf4: 'layers.{i}.self_attn.q_proj.weight', hf3: 'model.layers.{i}.self_attn.q_proj.weight' },
  k: { gguf: 'blk.{i}.attn_k.weight', hf4: 'layers.{i}.self_attn.k_proj.weight', hf3: 'model.layers.{i}.self_attn.k_proj.weight' },
  v: { gguf: 'blk.{i}.attn_v.weight', hf4: 'layers.{i}.self_attn.v_proj.weight', hf3: 'model.layers.{i}.self_attn.v_proj.weight' },
  o: { gguf: 'blk.{i}.attn_output.weight', hf4: 'layers.{i}.self_attn.o_proj.weight', hf3: 'model.layers.{i}.self_attn.o_proj.weight' },
  ffnNorm: { gguf: 'blk.{i}.ffn_norm.weight', hf4: 'layers.{i}.post_attention_layernorm.weight', hf3: 'model.layers.{i}.post_attention_layernorm.weight' },
  gate: { gguf: 'blk.{i}.ffn_gate.weight', hf4: 'layers.{i}.feed_forward.gate_proj.weight', hf3: 'model.layers.{i}.mlp.gate_proj.weight' },
  up: { gguf: 'blk.{i}.ffn_up.weight', hf4: 'layers.{i}.feed_forward.up_proj.weight', hf3: 'model.layers.{i}.mlp.up_proj.weight' },
  down: { gguf: 'blk.{i}.ffn_down.weight', hf4: 'layers.{i}.feed_forward.down_proj.weight', hf3: 'model.layers.{i}.mlp.down_proj.weight' },
  router: { gguf: 'blk.{i}.ffn_gate_inp.weight', hf4: 'layers.{i}.feed_forward.router.weight', hf3: '' },
  gateExps: { gguf: 'blk.{i}.ffn_gate_exps.weight', hf4: 'layers.{i}.feed_forward.experts.gate_proj', hf3: '' },
  upExps: { gguf: 'blk.{i}.ffn_up_exps.weight', hf4: 'layers.{i}.feed_forward.experts.up_proj', hf3: '' },
  downExps: { gguf: 'blk.{i}.ffn_down_exps.weight', hf4: 'layers.{i}.feed_forward.experts.down_proj', hf3: '' },
  gateUpExpsFused: { gguf: '', hf4: 'layers.{i}.feed_forward.experts.gate_up_proj', hf3: '' },
  gateShexp: { gguf: 'blk.{i}.ffn_gate_shexp.weight', hf4: 'layers.{i}.feed_forward.shared_expert.gate_proj.weight', hf3: '' },
  upShexp: { gguf: 'blk.{i}.ffn_up_shexp.weight', hf4: 'layers.{i}.feed_forward.shared_expert.up_proj.weight', hf3: '' },
  downShexp: { gguf: 'blk.{i}.ffn_down_shexp.weight', hf4: 'layers.{i}.feed_forward.shared_expert.down_proj.weight', hf3: '' },
} satisfies Record<string, NameRow>;
type Key = keyof typeof NAMES;

/** HF Llama 4 checkpoints nest the text model under one of these prefixes. */
const HF4_PREFIXES = ['language_model.model.', 'model.language_model.', 'model.', ''];
const HF4_HEAD_PREFIXES = ['language_model.', 'model.language_model.', ''];

/** Resolves canonical names to tensors of one source, with shape checks that name the tensor. */
class TensorLookup {
  private readonly prefix: string;
  private readonly headPrefix: string;
  constructor(private readonly src: TensorSource, private readonly origin: WeightOrigin, private readonly family: ModelConfig['family']) {
    const has = (n: string) => src.tensors.has(n);
    this.prefix = origin === 'hf' && family === 'llama4' ? HF4_PREFIXES.find((p) => has(`${p}embed_tokens.weight`)) ?? 'language_model.model.' : '';
    this.headPrefix = origin === 'hf' && family === 'llama4' ? HF4_HEAD_PREFIXES.find((p) => has(`${p}lm_head.weight`)) ?? 'language_model.' : '';
  }

  name(key: Key, layer = -1): string {
    const row: NameRow = NAMES[key];
    const raw = this.origin === 'gguf' ? row.gguf : this.family === 'llama4' ? row.hf4 : row.hf3;
    const base = raw.replace('{i}', String(layer));
    if (this.origin === 'hf' && this.family === 'llama4') return (key === 'output' ? this.headPrefix : this.prefix) + base;
    return base;
  }

  find(key: Key, layer = -1): TensorData | undefined {
    return this.src.tensors.get(this.name(key, layer));
  }

  /** The tensor, checked against `shape` (outermost first). */
  get(key: Key, layer: number, shape: readonly number[]): TensorData {
    const name = this.name(key, layer);
    const t = this.src.tensors.get(name);
    if (!t) throw new Llama4Error(`missing tensor '${name}'`, { source: this.src.path });
    checkShape(t, shape, this.src.path);
    return t;
  }
}

function checkShape(t: TensorData, shape: readonly number[], source: string): void {
  // GGUF drops trailing unit dims (a [1, n] tensor may be stored as [n]); compare without them.
  const strip = (s: readonly number[]) => { const a = [...s]; while (a.length > 1 && a[0] === 1) a.shift(); return a; };
  const got = strip(t.shape), want = strip(shape);
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new Llama4Error(`tensor '${t.name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`, { source });
  }
}

/** Decodes a 1-D tensor (norm weights, RoPE factors) to f32. */
export function tensorToF32(t: TensorData): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  dequantizeRow(t.dtype, t.bytes, 0, out, 0, n);
  return out;
}

const ELEMENT_BYTES: Partial<Record<DType, number>> = { F32: 4, F16: 2, BF16: 2 };
function elementBytes(t: TensorData, source: string, why: string): number {
  const e = ELEMENT_BYTES[t.dtype];
  if (e === undefined) throw new Llama4Error(`tensor '${t.name}' is ${t.dtype}, but ${why} needs an unquantized (F32/F16/BF16) tensor`, { source });
  return e;
}

/**
 * Reorders q/k rows of an HF Llama 3 projection from rotate-half order (per head: all first
 * halves, then all second halves) back to adjacent pairs, as Meta's original weights have them.
 */
function unpermuteRotateHalf(t: TensorData, nHeads: number, headDim: number, source: string): Uint8Array {
  const rowLen = rowBytes(t.dtype, t.shape[1]);
  const out = new Uint8Array(t.bytes.byteLength);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let part = 0; part < 2; part++) {
        const from = h * headDim + part * half + j;
        const to = h * headDim + 2 * j + part;
        out.set(t.bytes.subarray(from * rowLen, (from + 1) * rowLen), to * rowLen);
      }
    }
  }
  if (t.shape[0] !== nHeads * headDim) throw new Llama4Error(`tensor '${t.name}' has ${t.shape[0]} rows, expected ${nHeads}×${headDim}`, { source });
  return out;
}

/**
 * Transposes columns [c0, c0+n) of the [rows, cols] matrix at `offset` into a new [n, rows]
 * matrix (element-wise byte copy; used for HF's input-major expert weights).
 */
function transposeSlice(bytes: Uint8Array, offset: number, rows: number, cols: number, c0: number, n: number, eb: number): Uint8Array {
  const out = new Uint8Array(n * rows * eb);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) {
      const src = offset + (r * cols + c0 + c) * eb;
      const dst = (c * rows + r) * eb;
      for (let b = 0; b < eb; b++) out[dst + b] = bytes[src + b];
    }
  }
  return out;
}

/**
 * Builds the typed weights of a Llama model from a tensor source. The backend adopts each matrix
 * (the ref backend keeps the stored bytes; quantized blocks stay quantized).
 */
export function loadLlamaWeights(src: TensorSource, origin: WeightOrigin, config: ModelConfig, backend: Backend): LlamaWeights {
  const { hiddenSize: D, vocabSize: V, nHeads: H, nKvHeads: Hkv, headDim: d } = config;
  const look = new TensorLookup(src, origin, config.family);
  const source = src.path;

  // Untransformed tensors go to the backend with their reader, so lazy files stream in.
  const matrix = (t: TensorData, bytes?: Uint8Array) => backend.matrix({
    name: t.name, dtype: t.dtype, rows: t.shape[0], cols: t.shape[t.shape.length - 1],
    ...(bytes ? { bytes } : t.readInto ? { readInto: (dst: Uint8Array) => t.readInto!(dst) } : { bytes: t.bytes }),
  });
  const linear = (key: Key, layer: number, rows: number, cols: number): Matrix => matrix(look.get(key, layer, [rows, cols]));
  const vector = (key: Key, layer: number, n: number): Float32Array => tensorToF32(look.get(key, layer, [n]));

  // A 3-D expert tensor [E, rows, cols] becomes one matrix per expert, sharing the stored bytes.
  const perExpert = (t: TensorData, E: number, rows: number, cols: number): Matrix[] =>
    backend.matrixStack({
      name: t.name, dtype: t.dtype, rows, cols,
      ...(t.readInto ? { readInto: (dst: Uint8Array) => t.readInto!(dst) } : { bytes: t.bytes }),
    }, E);

  const tokenEmbedding = linear('tokenEmbedding', -1, V, D);
  const layers: LayerWeights[] = config.layers.map((plan, i) => {
    const q = look.get('q', i, [H * d, D]);
    const k = look.get('k', i, [Hkv * d, D]);
    const attention: AttentionWeights = {
      norm: vector('attnNorm', i, D),
      q: origin === 'hf' && config.family === 'llama3' ? matrix(q, unpermuteRotateHalf(q, H, d, source)) : matrix(q),
      k: origin === 'hf' && config.family === 'llama3' ? matrix(k, unpermuteRotateHalf(k, Hkv, d, source)) : matrix(k),
      v: linear('v', i, Hkv * d, D),
      o: linear('o', i, D, H * d),
    };
    const norm = vector('ffnNorm', i, D);
    if (plan.ffn === 'dense') {
      const F = config.denseFfnSize;
      return { attention, ffn: { kind: 'dense', norm, gate: linear('gate', i, F, D), up: linear('up', i, F, D), down: linear('down', i, D, F) } };
    }
    const E = config.nExperts, F = config.expertFfnSize;
    const router = linear('router', i, E, D);
    let experts: SwiGluWeights[];
    const fused = origin === 'hf' ? look.find('gateUpExpsFused', i) : undefined;
    if (fused) {
      // HF: gate_up_proj [E, D, 2F] and down_proj [E, F, D], both input-major.
      checkShape(fused, [E, D, 2 * F], source);
      const downT = look.get('downExps', i, [E, F, D]);
      const eb = elementBytes(fused, source, 'transposing fused experts');
      elementBytes(downT, source, 'transposing fused experts');
      const fusedBytes = fused.bytes, downBytes = downT.bytes; // read once (lazy sources re-read)
      experts = Array.from({ length: E }, (_, e) => {
        const gu = e * D * 2 * F * eb, dn = e * F * D * eb;
        const mk = (t: TensorData, bytes: Uint8Array, rows: number, cols: number, what: string) =>
          backend.matrix({ name: `${t.name}[${e}].${what}`, dtype: t.dtype, rows, cols, bytes });
        return {
          gate: mk(fused, transposeSlice(fusedBytes, gu, D, 2 * F, 0, F, eb), F, D, 'gate'),
          up: mk(fused, transposeSlice(fusedBytes, gu, D, 2 * F, F, F, eb), F, D, 'up'),
          down: mk(downT, transposeSlice(downBytes, dn, F, D, 0, D, eb), D, F, 'down'),
        };
      });
    } else if (origin === 'hf' && !look.find('gateExps', i)) {
      // HF "offline-quant compatible" layout: one nn.Linear per expert.
      const one = (what: 'gate' | 'up' | 'down', e: number, rows: number, cols: number) => {
        const name = look.name('router', i).replace('router.weight', `experts.${e}.${what}_proj.weight`);
        const t = src.tensors.get(name);
        if (!t) throw new Llama4Error(`missing tensor '${look.name('gateUpExpsFused', i)}' (or per-expert '${name}')`, { source });
        checkShape(t, [rows, cols], source);
        return matrix(t);
      };
      experts = Array.from({ length: E }, (_, e) => ({ gate: one('gate', e, F, D), up: one('up', e, F, D), down: one('down', e, D, F) }));
    } else {
      const gates = perExpert(look.get('gateExps', i, [E, F, D]), E, F, D);
      const ups = perExpert(look.get('upExps', i, [E, F, D]), E, F, D);
      const downs = perExpert(look.get('downExps', i, [E, D, F]), E, D, F);
      experts = gates.map((gate, e) => ({ gate, up: ups[e], down: downs[e] }));
    }
    const shared = config.sharedExpert
      ? { gate: linear('gateShexp', i, F, D), up: linear('upShexp', i, F, D), down: linear('downShexp', i, D, F) }
      : null;
    return { attention, ffn: { kind: 'moe', norm, router, experts, shared } };
  });

  const outputNorm = vector('outputNorm', -1, D);
  const outT = look.find('output');
  let output: Matrix;
  if (outT && !config.tieWordEmbeddings) { checkShape(outT, [V, D], source); output = matrix(outT); }
  else if (!outT && !config.tieWordEmbeddings && origin === 'hf') throw new Llama4Error(`missing tensor '${look.name('output')}' (the config says embeddings are not tied)`, { source });
  else output = outT ? (checkShape(outT, [V, D], source), matrix(outT)) : tokenEmbedding;
  return { tokenEmbedding, layers, outputNorm, output };
}
