/**
 * The description `llama4 inspect` prints: architecture, layer plan, parameter counts (total and
 * active per token), context length, licence, and optionally the tensor table and weight
 * statistics, as text or as JSON.
 *
 * Parameter counts follow Meta's convention: every element of every text-model weight counts once
 * (a tied embedding once); "active" is the total minus the routed experts one token does not use,
 * i.e. minus (experts − experts per token) / experts of each MoE layer's routed expert weights
 * (shared experts, routers and attention are always active). That gives Scout's ≈17B active.
 * llama.cpp's `rope_freqs` table is a constant, not a parameter; vision-tower and projector
 * tensors of multimodal checkpoints are counted apart (`params_other`).
 */
import type { LayerPlan } from '../config/model-config.js';
import { describeLicense, findLicense, isLlama4License, llama4Terms, type LicenseInfo } from '../hub/license.js';
import type { ModelFiles, TensorEntry } from './model-files.js';
import { tensorStats, verdict, type TensorStats } from './weight-stats.js';

export type TensorRole = 'routed-expert' | 'weight' | 'other' | 'constant';

const ROUTED = [/\.ffn_(gate|up|down)_exps\.weight$/, /(^|\.)feed_forward\.experts\./];
const NON_TEXT = /(^|\.)(vision_model|vision_tower|multi_modal_projector|vision_encoder)\./;
const CONSTANT = [/^rope_freqs\.weight$/, /\.rotary_emb\.inv_freq$/];

export function tensorRole(name: string): TensorRole {
  if (CONSTANT.some((r) => r.test(name))) return 'constant';
  if (NON_TEXT.test(name)) return 'other';
  if (ROUTED.some((r) => r.test(name))) return 'routed-expert';
  return 'weight';
}

export interface ParamCounts {
  /** Every text-model parameter. */
  readonly total: number;
  /** Parameters one token uses. */
  readonly active: number;
  /** Routed expert parameters (all experts). */
  readonly routedExperts: number;
  /** Vision tower / projector parameters (not part of the text model). */
  readonly other: number;
}

export function countParams(m: Pick<ModelFiles, 'tensors' | 'config'>): ParamCounts {
  let total = 0, routed = 0, other = 0;
  for (const t of m.tensors) {
    const role = tensorRole(t.name);
    if (role === 'constant') continue;
    if (role === 'other') { other += t.elements; continue; }
    total += t.elements;
    if (role === 'routed-expert') routed += t.elements;
  }
  const E = m.config.nExperts, k = m.config.nExpertsPerToken;
  const unused = E > 0 && routed > 0 ? Math.round((routed / E) * (E - k)) : 0;
  return { total, active: total - unused, routedExperts: routed, other };
}

export interface LayerJson {
  readonly index: number;
  readonly ffn: 'moe' | 'dense';
  readonly rope: boolean;
  readonly chunked: boolean;
  readonly qk_norm: boolean;
  readonly temperature_tuning: boolean;
}

export interface TensorJson { readonly name: string; readonly type: string; readonly shape: readonly number[]; readonly bytes: number }

export interface StatsJson {
  readonly name: string; readonly count: number; readonly mean: number | null; readonly std: number | null;
  readonly min: number | null; readonly max: number | null; readonly nan: number; readonly inf: number;
  readonly zero_rows: number; readonly rows: number; readonly corrupt: boolean; readonly suspicious: boolean;
}

export interface ModelSummary {
  readonly path: string;
  readonly format: 'hf' | 'gguf';
  readonly files: readonly string[];
  readonly arch: string;
  readonly family: 'llama4' | 'llama3';
  readonly quant: string | null;
  readonly params_total: number;
  readonly params_active: number;
  readonly params_routed_experts: number;
  readonly params_other: number;
  readonly bytes_total: number;
  readonly context_length: number;
  readonly vocab_size: number;
  readonly hidden_size: number;
  readonly n_layers: number;
  readonly n_heads: number;
  readonly n_kv_heads: number;
  readonly head_dim: number;
  readonly ffn: { readonly dense: number; readonly expert: number };
  readonly experts: { readonly count: number; readonly per_token: number; readonly shared: boolean };
  readonly chunk_size: number | null;
  readonly rope_theta: number;
  readonly tie_word_embeddings: boolean;
  readonly layers: readonly LayerJson[];
  readonly license: LicenseInfo & { readonly llama4_terms: readonly string[] | null };
  readonly tensors?: readonly TensorJson[];
  readonly stats?: readonly StatsJson[];
  readonly audit?: { readonly corrupt: readonly string[]; readonly suspicious: readonly string[]; readonly skipped: readonly string[] };
}

function layerJson(l: LayerPlan): LayerJson {
  return { index: l.index, ffn: l.ffn, rope: l.rope, chunked: l.chunked, qk_norm: l.qkNorm, temperature_tuning: l.temperatureTuning };
}

export interface SummaryOptions {
  readonly tensors?: boolean;
  readonly stats?: boolean;
  /** Called after each tensor's statistics (progress). */
  readonly onStats?: (done: number, total: number, t: TensorEntry) => void;
}

export function summarizeModel(m: ModelFiles, o: SummaryOptions = {}): ModelSummary {
  const c = m.config;
  const p = countParams(m);
  // A GGUF's folder holds its licence files only in a hub snapshot; elsewhere (~/Downloads, a
  // project folder) a LICENSE beside it is somebody else's, so only its metadata counts.
  const snapshot = /^(.*[\\/]snapshots[\\/][0-9a-f]{40})(?:[\\/]|$)/.exec(m.dir);
  const license = findLicense(m.format === 'hf' ? m.dir : snapshot ? snapshot[1] : null, m.ggufMetadata ?? undefined);
  const llama4 = isLlama4License(license, c.family);
  const summary: ModelSummary = {
    path: m.path, format: m.format, files: m.files, arch: c.arch, family: c.family, quant: m.quant,
    params_total: p.total, params_active: p.active, params_routed_experts: p.routedExperts, params_other: p.other,
    bytes_total: m.tensors.reduce((n, t) => n + t.bytes, 0),
    context_length: c.maxContext, vocab_size: c.vocabSize, hidden_size: c.hiddenSize, n_layers: c.nLayers,
    n_heads: c.nHeads, n_kv_heads: c.nKvHeads, head_dim: c.headDim,
    ffn: { dense: c.denseFfnSize, expert: c.expertFfnSize },
    experts: { count: c.nExperts, per_token: c.nExpertsPerToken, shared: c.sharedExpert },
    chunk_size: c.attentionChunkSize, rope_theta: c.rope.theta, tie_word_embeddings: c.tieWordEmbeddings,
    layers: c.layers.map(layerJson),
    license: { ...license, llama4_terms: llama4 ? llama4Terms(license) : null },
  };
  let out: ModelSummary = summary;
  if (o.tensors) out = { ...out, tensors: m.tensors.map((t) => ({ name: t.name, type: t.type, shape: t.shape, bytes: t.bytes })) };
  if (o.stats) {
    const stats: StatsJson[] = [];
    const corrupt: string[] = [], suspicious: string[] = [], skipped: string[] = [];
    m.tensors.forEach((t, i) => {
      const s: TensorStats | null = tensorStats(t);
      if (s === null) skipped.push(t.name);
      else {
        const v = verdict(s);
        if (v.corrupt) corrupt.push(t.name);
        if (v.suspicious) suspicious.push(t.name);
        stats.push({
          name: s.name, count: s.count, mean: s.mean, std: s.std, min: s.min, max: s.max, nan: s.nan, inf: s.inf,
          zero_rows: s.zeroRows, rows: s.rows, corrupt: v.corrupt, suspicious: v.suspicious,
        });
      }
      o.onStats?.(i + 1, m.tensors.length, t);
    });
    out = { ...out, stats, audit: { corrupt, suspicious, skipped } };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Text

/** 17_170_000_000 → "17.17 B"; small counts exactly. */
export function formatCount(n: number): string {
  if (n < 10_000) return String(n);
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'B'], [1e6, 'M'], [1e3, 'K']];
  for (const [v, u] of units) if (n >= v) return `${(n / v).toFixed(n / v >= 100 ? 1 : 2)} ${u}`;
  return String(n);
}

function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

function table(rows: readonly (readonly string[])[], rightAlign: readonly number[] = []): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (rightAlign.includes(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n');
}

function num(v: number | null): string {
  if (v === null) return '-';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
}

/** Describes a layer's attention in a few words. */
function attentionWords(l: LayerJson, chunk: number | null): string {
  const parts = [l.rope ? 'RoPE' : 'NoPE', l.chunked ? `chunked ${chunk}` : 'full attention'];
  if (l.qk_norm) parts.push('QK-norm');
  if (l.temperature_tuning) parts.push('temperature tuning');
  return parts.join(', ');
}

export function formatSummary(s: ModelSummary): string {
  const out: string[] = [];
  const kv = (k: string, v: string) => out.push(`${k.padEnd(14)}${v}`);
  const format = s.format === 'gguf' ? `GGUF${s.quant ? ` ${s.quant}` : ''}` : `Hugging Face safetensors${s.quant ? ` (${s.quant})` : ''}`;
  kv('model', s.path);
  kv('format', `${format}, ${s.files.length} file${s.files.length === 1 ? '' : 's'}, ${formatBytes(s.bytes_total)} of tensors`);
  kv('architecture', `${s.arch} (${s.family === 'llama4' ? 'Llama 4' : 'Llama 3'} family)`);
  const moe = s.layers.filter((l) => l.ffn === 'moe').length;
  const paramLine = moe > 0
    ? `${formatCount(s.params_total)} total, ${formatCount(s.params_active)} active per token (${s.params_total} / ${s.params_active})`
    : `${formatCount(s.params_total)} (${s.params_total})`;
  kv('parameters', paramLine + (s.params_other > 0 ? `; plus ${formatCount(s.params_other)} vision/projector` : ''));
  kv('context', `${s.context_length} tokens`);
  kv('shape', `hidden ${s.hidden_size}, ${s.n_layers} layers, ${s.n_heads} heads / ${s.n_kv_heads} KV heads, head_dim ${s.head_dim}, vocab ${s.vocab_size}${s.tie_word_embeddings ? ', tied embeddings' : ''}`);
  if (moe > 0) {
    kv('experts', `${s.experts.count} routed (width ${s.ffn.expert}), ${s.experts.per_token} per token${s.experts.shared ? ', plus a shared expert' : ''}; ${moe} MoE layer${moe === 1 ? '' : 's'}, ${s.n_layers - moe} dense${s.n_layers - moe > 0 ? ` (width ${s.ffn.dense})` : ''}`);
  } else {
    kv('ffn', `dense SwiGLU, width ${s.ffn.dense}`);
  }
  const nope = s.layers.filter((l) => !l.rope).map((l) => l.index);
  kv('attention', `RoPE θ ${s.rope_theta}${nope.length > 0 ? `; NoPE layers ${nope.join(', ')}` : ''}${s.chunk_size !== null && s.layers.some((l) => l.chunked) ? `; chunked attention (${s.chunk_size} tokens) on RoPE layers` : ''}`);
  kv('licence', describeLicense(s.license));
  if (s.license.llama4_terms) kv('', 'Llama 4 Community License: the 700M monthly-active-users clause, the Acceptable Use Policy and "Built with Llama" attribution bind deployers (--json has the full terms)');

  out.push('', 'layers');
  const rows: string[][] = [['#', 'ffn', 'attention']];
  for (const l of s.layers) rows.push([String(l.index), l.ffn, attentionWords(l, s.chunk_size)]);
  out.push(table(rows, [0]).split('\n').map((r) => `  ${r}`).join('\n'));

  if (s.tensors) {
    out.push('', `tensors (${s.tensors.length})`);
    const t: string[][] = [['name', 'type', 'shape', 'bytes']];
    for (const x of s.tensors) t.push([x.name, x.type, `[${x.shape.join(', ')}]`, String(x.bytes)]);
    out.push(table(t, [3]).split('\n').map((r) => `  ${r}`).join('\n'));
  }
  if (s.stats && s.audit) {
    out.push('', 'weight statistics');
    const t: string[][] = [['name', 'mean', 'std', 'min', 'max', 'nan', 'inf', 'zero rows', '']];
    for (const x of s.stats) {
      t.push([x.name, num(x.mean), num(x.std), num(x.min), num(x.max), String(x.nan), String(x.inf), `${x.zero_rows}/${x.rows}`, x.corrupt ? 'CORRUPT' : x.suspicious ? 'check' : '']);
    }
    out.push(table(t, [1, 2, 3, 4, 5, 6, 7]).split('\n').map((r) => `  ${r}`).join('\n'));
    const a = s.audit;
    out.push('');
    if (a.corrupt.length > 0) out.push(`audit: NaN/Inf values in ${a.corrupt.length} tensor${a.corrupt.length === 1 ? '' : 's'}: ${a.corrupt.join(', ')}`);
    if (a.suspicious.length > 0) out.push(`audit: all-zero rows or constant values in ${a.suspicious.length} tensor${a.suspicious.length === 1 ? '' : 's'} (can be legitimate, e.g. unused token embeddings): ${a.suspicious.join(', ')}`);
    if (a.skipped.length > 0) out.push(`audit: ${a.skipped.length} tensor${a.skipped.length === 1 ? '' : 's'} of a type llama4.ts cannot decode skipped: ${a.skipped.join(', ')}`);
    if (a.corrupt.length === 0 && a.suspicious.length === 0) out.push(`audit: ${s.stats.length} tensors, no NaN or Inf, no all-zero rows`);
  }
  return `${out.join('\n')}\n`;
}
