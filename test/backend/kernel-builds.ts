/**
 * Runs the same quantized matmuls and row decodes through two builds of the wasm kernels and lists
 * every output that differs by a single bit. Plain ECMAScript (no Node.js imports), so the same
 * code runs in Node.js and in a browser page (test/backend/wasm-relaxed.test.ts).
 */

/** Type codes of asm/dequant.ts and asm/repack.ts. */
const TYPES: Record<string, { code: number; repacked?: { code: number; fn: string }; block: number; bytes: number; fmt: number }> = {
  Q8_0: { code: 3, block: 32, bytes: 34, fmt: 0 },
  Q4_0: { code: 4, repacked: { code: 11, fn: 'repackQ4_0x4' }, block: 32, bytes: 18, fmt: 0 },
  Q5_0: { code: 6, block: 32, bytes: 22, fmt: 0 },
  Q4_1: { code: 5, block: 32, bytes: 20, fmt: 1 },
  Q4_K: { code: 8, repacked: { code: 13, fn: 'repackQ4_Kx4' }, block: 256, bytes: 144, fmt: 2 },
  Q6_K: { code: 10, repacked: { code: 12, fn: 'repackQ6_Kx4' }, block: 256, bytes: 210, fmt: 2 },
};

interface Kernels {
  quantizeActivations(fmt: number, x: number, dst: number, T: number, n: number): void;
  q8RowBytes(fmt: number, n: number): number;
  q8ActivationBytes(fmt: number, T: number, n: number): number;
  matmulQ8(t: number, w: number, rowBytes: number, xq: number, xqRowBytes: number, T: number, out: number, rows: number, r0: number, r1: number, n: number, scratch: number): void;
  dequantRow(t: number, src: number, dst: number, n: number): void;
  relaxedSelfTest(): number;
  [repack: string]: (...args: number[]) => number | void;
}

/** A deterministic stream of uint32. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
}

/** Random blocks of type `type` with sane f16 scales (so sums stay finite). */
function randomRows(type: string, rows: number, cols: number, seed: number): Uint8Array {
  const t = TYPES[type], next = lcg(seed);
  const b = new Uint8Array(rows * (cols / t.block) * t.bytes);
  for (let i = 0; i < b.length; i++) b[i] = next() >>> 24;
  const scale = (o: number) => { b[o] = next() >>> 24; b[o + 1] = 0x20 + ((next() >>> 29) & 7); };
  for (let o = 0; o < b.length; o += t.bytes) {
    if (type === 'Q6_K') scale(o + 208);
    else if (type === 'Q4_K') { scale(o); scale(o + 2); } else { scale(o); if (type === 'Q4_1') scale(o + 2); }
  }
  return b;
}

export interface Case { type: string; rows: number; cols: number; tokens: number; repacked: boolean }

/** The shapes compared: ragged row counts, rows with and without a partial group, every kernel path (T = 1…3 rows, T ≥ 4 groups). */
export function defaultCases(): Case[] {
  const cases: Case[] = [];
  for (const type of Object.keys(TYPES)) {
    const k = TYPES[type].block === 256;
    const widths = k ? [256, 1024, 2304] : [160, 2048, 4096 + 96];
    for (const cols of widths) {
      for (const tokens of [1, 2, 3, 4, 5, 8, 13, 33]) {
        for (const repacked of TYPES[type].repacked ? [true, false] : [false]) cases.push({ type, rows: 37, cols, tokens, repacked });
      }
    }
  }
  return cases;
}

function run(module: WebAssembly.Module, c: Case, seed: number): { out: Float32Array; rows: Float32Array } {
  const t = TYPES[c.type];
  const rowBytes = (c.cols / t.block) * t.bytes;
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 4096, shared: true });
  const k = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('wasm abort'); }, seed: () => 0 } }).exports as unknown as Kernels;
  const W = 1 << 20, X = W + c.rows * rowBytes + 4096;
  const XQ = X + c.tokens * c.cols * 4 + 4096, QB = k.q8ActivationBytes(t.fmt, c.tokens, c.cols);
  const OUT = XQ + QB + 4096, SCR = OUT + c.tokens * c.rows * 4 + 4096, DQ = SCR + Math.max(4 * c.cols, 65536) + 4096;
  const end = DQ + 3 * c.cols * 4 + 4096;
  memory.grow(Math.ceil(end / 65536) - 17 + 1);
  new Uint8Array(memory.buffer).set(randomRows(c.type, c.rows, c.cols, seed), W);
  const f32 = new Float32Array(memory.buffer), next = lcg(seed ^ 0x9e3779b9);
  for (let i = 0; i < c.tokens * c.cols; i++) f32[X / 4 + i] = ((next() / 2 ** 32) - 0.5) * (i % 97 === 0 ? 40 : 1);
  let code = t.code;
  if (c.repacked) { k[t.repacked!.fn](W, c.rows, rowBytes, c.cols); code = t.repacked!.code; }
  k.quantizeActivations(t.fmt, X, XQ, c.tokens, c.cols);
  k.matmulQ8(code, W, rowBytes, XQ, k.q8RowBytes(t.fmt, c.cols), c.tokens, OUT, c.rows, 0, c.rows, c.cols, SCR);
  for (let r = 0; r < 3; r++) k.dequantRow(code, W + r * rowBytes, DQ + r * c.cols * 4, c.cols);
  return { out: f32.slice(OUT / 4, OUT / 4 + c.tokens * c.rows), rows: f32.slice(DQ / 4, DQ / 4 + 3 * c.cols) };
}

/** 1 when the build's relaxed self-test passes. */
export function selfTest(module: WebAssembly.Module): number {
  const memory = new WebAssembly.Memory({ initial: 17, maximum: 17, shared: true });
  const k = new WebAssembly.Instance(module, { env: { memory, abort: () => { throw new Error('wasm abort'); }, seed: () => 0 } }).exports as unknown as Kernels;
  return k.relaxedSelfTest();
}

/** Every case through both builds: the list of differences (empty when bit-identical) and the number of values compared. */
export function compareBuilds(a: WebAssembly.Module, b: WebAssembly.Module, cases: Case[] = defaultCases()): { differences: string[]; values: number } {
  const differences: string[] = [];
  let values = 0;
  cases.forEach((c, i) => {
    const x = run(a, c, 1000 + i), y = run(b, c, 1000 + i);
    for (const part of ['out', 'rows'] as const) {
      let diff = 0, first = -1;
      for (let j = 0; j < x[part].length; j++) {
        if (!Object.is(x[part][j], y[part][j])) { diff++; if (first < 0) first = j; }
      }
      values += x[part].length;
      if (diff > 0) differences.push(`${c.type}${c.repacked ? ' repacked' : ''} ${c.rows}x${c.cols} T=${c.tokens} ${part === 'out' ? 'matmul' : 'dequant'}: ${diff} values differ (first at ${first}: ${x[part][first]} vs ${y[part][first]})`);
    }
  });
  return { differences, values };
}
