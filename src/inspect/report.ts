/**
 * The trace report: one self-contained HTML file (inline CSS and SVG, no scripts, no network) with
 * the tokens, the next-token distribution, an expert-routing heatmap (MoE layer × token, colour =
 * expert, tooltip = router weight), per-layer expert load histograms, attention maps of the traced
 * heads, and a logit-lens table; for two traces, a section on where they diverge first.
 *
 * Every plotted cell carries a class and data attributes (route-cell, load-bar, attn-cell,
 * lens-cell, next-bar, diff-cell, lens-diff-cell) so tests and scripts can count and read them.
 * Plots with more cells than SVG handles comfortably are drawn as one PNG pixel per cell instead.
 */
import type { TraceComparison } from './compare.js';
import type { TokenProb } from './logit-lens.js';
import { pngDataUrl } from './png.js';
import type { Trace } from './trace.js';

export interface ReportInput {
  readonly title?: string;
  /** One trace, or two with their comparison. */
  readonly traces: readonly { readonly label: string; readonly trace: Trace }[];
  readonly comparison?: TraceComparison;
  /** Cells above which a plot is drawn as a PNG rather than SVG rects (default 40 000). */
  readonly maxSvgCells?: number;
}

type Rgb = [number, number, number];

const esc = (s: string | number) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** A token's text with its whitespace made visible, cut to `max` characters. */
const showPiece = (s: string, max = 14) => {
  const v = s.replace(/ /g, '␣').replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/[\u0000-\u001f]/g, '·');
  return v.length === 0 ? '∅' : v.length > max ? `${v.slice(0, max - 1)}…` : v;
};
const pct = (p: number) => (p >= 0.1 ? `${(100 * p).toFixed(1)}%` : p >= 0.001 ? `${(100 * p).toFixed(2)}%` : p.toExponential(1));
const fmt = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3));
const clamp = (x: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, x));
const hex = ([r, g, b]: Rgb) => `#${[r, g, b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('')}`;

/** Distinct colours for up to 20 experts (Tableau 20 reordered), golden-angle hues beyond. */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
  '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#aec7e8'];
function expertRgb(e: number): Rgb {
  if (e < PALETTE.length) { const h = PALETTE[e]; return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)) as Rgb; }
  const hue = (e * 137.508) % 360, s = 0.65, l = 0.5 + 0.15 * ((e >> 3) % 2) - 0.05;
  const f = (n: number) => { const k = (n + hue / 30) % 12; return 255 * (l - s * Math.min(l, 1 - l) * Math.max(-1, Math.min(k - 3, 9 - k, 1))); };
  return [f(0), f(8), f(4)];
}
const expertColor = (e: number) => hex(expertRgb(e));

/** Sequential colour for v ∈ [0, 1]: white → deep blue (ColorBrewer Blues). */
const BLUES: Rgb[] = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
function blues(v: number): Rgb {
  const x = clamp(v, 0, 1) * (BLUES.length - 1), i = Math.min(Math.floor(x), BLUES.length - 2), f = x - i;
  return BLUES[i].map((c, j) => c + f * (BLUES[i + 1][j] - c)) as Rgb;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2530;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dee4;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#57606a;margin:0 0 12px}.note{color:#57606a;font-size:12px;margin:4px 0}
section.card{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:12px 16px;margin:12px 0;overflow-x:auto}
.tokens{display:flex;flex-wrap:wrap;gap:4px}.tok{font:12px ui-monospace,Menlo,Consolas,monospace;background:#eef2f6;border:1px solid #d0d7de;border-radius:4px;padding:1px 5px}
.tok sub{color:#8c959f;font-size:9px;margin-left:2px}
svg text{font:11px system-ui,sans-serif;fill:#3a4450}svg .mono{font:11px ui-monospace,Menlo,Consolas,monospace}
.legend{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0;font-size:12px}.legend span{display:inline-flex;align-items:center;gap:4px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px}
.grid{display:flex;flex-wrap:wrap;gap:14px}.grid figure{margin:0}.grid figcaption{font-size:12px;color:#57606a;text-align:center}
table.lens{border-collapse:collapse;font:11px ui-monospace,Menlo,Consolas,monospace}table.lens th,table.lens td{border:1px solid #e1e4e8;padding:2px 4px;text-align:center;white-space:nowrap}
table.lens th{background:#f3f5f7;font-weight:600}td.lens-cell,td.lens-diff-cell{min-width:38px}
td.lens-diff-cell.differs{background:#ffe1dc}td.lens-diff-cell.same{background:#e6f4ea}
ul.summary{margin:4px 0 0 18px;padding:0}
img.raster,svg image{image-rendering:pixelated}
`;

/** The whole report page. */
export function renderReport(input: ReportInput): string {
  const title = input.title ?? (input.traces.length > 1 ? `Trace comparison: ${input.traces.map((t) => t.label).join(' vs ')}` : `Trace: ${input.traces[0]?.label ?? ''}`);
  const maxCells = input.maxSvgCells ?? 40_000;
  const body: string[] = [`<h1>${esc(title)}</h1>`];
  if (input.comparison && input.traces.length === 2) body.push(comparisonSection(input.comparison, input.traces[0].trace, input.traces[1].trace, maxCells));
  input.traces.forEach(({ label, trace }, i) => body.push(traceSection(label, trace, i, maxCells, input.traces.length > 1)));
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body>
${body.join('\n')}
<p class="note">Written by llama4 trace. Self-contained: no scripts, no network. Hover a cell for its values.</p>
</body></html>
`;
}

function traceSection(label: string, t: Trace, index: number, maxCells: number, several: boolean): string {
  const m = t.model;
  const out: string[] = [`<section class="trace" data-trace="${index}" data-label="${esc(label)}">`];
  if (several) out.push(`<h2>${esc(label)}</h2>`);
  out.push(`<p class="meta">${esc(m.name)} · ${esc(m.family)} · ${m.nLayers} layers · ${m.nHeads} heads · ${m.moeLayers.length > 0 ? `${m.nExperts} experts (top-${m.nExpertsPerToken}) in ${m.moeLayers.length} MoE layers` : 'dense FFN'} · ${t.tokens.length} tokens</p>`);
  if (t.interventions) out.push(`<p class="meta">Interventions: <code>${esc(describeInterventions(t))}</code></p>`);

  out.push(`<section class="card tokens-card"><h3>Tokens</h3><div class="tokens">${t.tokens.map((id, p) => `<span class="tok" data-position="${p}" data-id="${id}" title="position ${p}, id ${id}">${esc(showPiece(t.pieces[p], 24))}<sub>${p}</sub></span>`).join('')}</div></section>`);
  out.push(`<section class="card next-card"><h3>Next-token distribution</h3>${nextChart(t.next, t, 'next-bar')}</section>`);

  if (m.moeLayers.length > 0) {
    out.push(`<section class="card routing-card"><h3>Expert routing</h3><p class="note">MoE layer × token; colour = chosen expert${m.nExpertsPerToken > 1 ? ' (one stripe per chosen expert)' : ''}; hover for the router weight (sigmoid of its logit).</p>${expertLegend(m.nExperts)}${routingHeatmap(t, maxCells)}</section>`);
    out.push(`<section class="card load-card"><h3>Expert load per layer</h3><p class="note">Tokens each expert ran; dashed line: an even split (${fmt((t.tokens.length * m.nExpertsPerToken) / Math.max(1, m.nExperts))} per expert).</p><div class="grid">${t.expertLoad.map((l) => loadHistogram(l.layer, l.counts, t)).join('')}</div></section>`);
  } else {
    out.push(`<section class="card routing-card"><h3>Expert routing</h3><p class="note">This model has no mixture-of-experts layers (dense FFN everywhere).</p></section>`);
  }
  if (t.attention.length > 0) {
    out.push(`<section class="card attention-card"><h3>Attention</h3><p class="note">Row = query token, column = key token; colour ∝ √probability (white 0, dark blue 1). Hover for the probability.</p><div class="grid">${t.attention.map((a) => attentionMap(a.layer, a.head, a.probs, t, maxCells)).join('')}</div></section>`);
  }
  if (t.lens.length > 0) out.push(`<section class="card lens-card"><h3>Logit lens</h3><p class="note">Each layer's residual stream (after its FFN) through the final norm and output matrix: the top token it predicts for the next position, shaded by probability. The last row is the model's own prediction. Hover for the top ${t.lens[0].top.length}.</p>${lensTable(t)}</section>`);
  out.push('</section>');
  return out.join('\n');
}

function describeInterventions(t: Trace): string {
  const iv = t.interventions!;
  const parts: string[] = [];
  for (const s of iv.steer ?? []) parts.push(`steer layer ${s.layer}${s.stage === 'attention' ? ' (after attention)' : ''} ×${s.scale ?? 1}${s.positions ? ` at ${s.positions.join(',')}` : ''}`);
  for (const a of iv.ablateHeads ?? []) parts.push(`ablate head ${a.layer}:${a.head}`);
  for (const a of iv.disableExperts ?? []) parts.push(`disable expert ${a.layer}:${a.expert}${a.mode === 'reroute' ? ' (reroute)' : ''}`);
  for (const f of iv.forceRoutes ?? []) parts.push(`force layer ${f.layer} position ${f.position} → ${f.experts.join('+')}`);
  return parts.join('; ');
}

function expertLegend(E: number): string {
  return `<div class="legend">${Array.from({ length: E }, (_, e) => `<span class="legend-expert" data-expert="${e}"><i style="background:${expertColor(e)}"></i>expert ${e}</span>`).join('')}</div>`;
}

/** Token labels along an axis when there are few enough tokens; position ticks otherwise. */
function xAxis(t: Trace, n: number, x0: number, cw: number, y: number): string {
  if (n <= 96 && cw >= 8) {
    return t.pieces.slice(0, n).map((p, i) => `<text class="mono" transform="translate(${x0 + (i + 0.5) * cw + 3},${y}) rotate(-60)" text-anchor="end">${esc(showPiece(p, 10))}</text>`).join('');
  }
  const step = Math.max(1, Math.ceil(n / 16));
  const out: string[] = [];
  for (let i = 0; i < n; i += step) out.push(`<text x="${x0 + (i + 0.5) * cw}" y="${y + 10}" text-anchor="middle">${i}</text>`);
  return out.join('');
}
const labelSpace = (t: Trace, n: number, cw: number) => (n <= 96 && cw >= 8 ? 8 + 6 * Math.min(10, Math.max(...t.pieces.slice(0, n).map((p) => showPiece(p, 10).length))) : 24);

function routingHeatmap(t: Trace, maxCells: number): string {
  const layers = t.model.moeLayers, T = t.tokens.length, K = t.model.nExpertsPerToken;
  const cw = clamp(Math.floor(1100 / T), 2, 28), ch = 20, x0 = 44, y0 = 4;
  const w = x0 + T * cw + 10, bottom = labelSpace(t, T, cw), h = y0 + layers.length * ch + bottom;
  const byKey = new Map(t.routing.map((r) => [`${r.layer}:${r.position}`, r]));
  const parts: string[] = [`<svg class="routing-heatmap" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="expert routing heatmap">`];
  layers.forEach((l, i) => parts.push(`<text x="${x0 - 6}" y="${y0 + i * ch + ch / 2 + 4}" text-anchor="end">L${l}</text>`));
  if (layers.length * T > maxCells) {
    const rgb = new Uint8Array(layers.length * T * 3);
    layers.forEach((l, i) => { for (let p = 0; p < T; p++) { const r = byKey.get(`${l}:${p}`); rgb.set(r && r.experts.length > 0 ? expertRgb(r.experts[0]) : [255, 255, 255], (i * T + p) * 3); } });
    parts.push(`<image class="routing-raster" x="${x0}" y="${y0}" width="${T * cw}" height="${layers.length * ch}" preserveAspectRatio="none" href="${pngDataUrl(T, layers.length, rgb)}"/>`);
  } else {
    layers.forEach((l, i) => {
      for (let p = 0; p < T; p++) {
        const r = byKey.get(`${l}:${p}`) ?? { experts: [], weights: [] };
        const tip = `layer ${l} · token ${p} ${JSON.stringify(t.pieces[p])}\n${r.experts.length === 0 ? 'no expert (dropped)' : r.experts.map((e, j) => `expert ${e}: weight ${r.weights[j].toFixed(3)}`).join('\n')}`;
        const stripes = r.experts.length === 0
          ? `<rect x="${x0 + p * cw}" y="${y0 + i * ch}" width="${cw - (cw > 3 ? 1 : 0)}" height="${ch - 1}" fill="#fff" stroke="#d0d7de"/>`
          : r.experts.map((e, j) => `<rect x="${x0 + p * cw}" y="${y0 + i * ch + (j * (ch - 1)) / Math.max(K, r.experts.length)}" width="${cw - (cw > 3 ? 1 : 0)}" height="${(ch - 1) / Math.max(K, r.experts.length)}" fill="${expertColor(e)}"/>`).join('');
        parts.push(`<g class="route-cell" data-layer="${l}" data-position="${p}" data-experts="${r.experts.join(',')}" data-weights="${r.weights.map((x) => x.toFixed(4)).join(',')}"><title>${esc(tip)}</title>${stripes}</g>`);
      }
    });
  }
  parts.push(xAxis(t, T, x0, cw, y0 + layers.length * ch + 6), '</svg>');
  return parts.join('');
}

function loadHistogram(layer: number, counts: number[], t: Trace): string {
  const E = counts.length, T = t.tokens.length, K = t.model.nExpertsPerToken;
  const max = Math.max(1, ...t.expertLoad.flatMap((l) => l.counts)); // one scale for every layer
  const bw = clamp(Math.floor(360 / E), 3, 26), x0 = 30, y0 = 14, ph = 90, w = x0 + E * bw + 8, h = y0 + ph + 18;
  const even = (T * K) / E;
  const parts = [`<figure class="load-hist" data-layer="${layer}"><svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="expert load, layer ${layer}">`];
  parts.push(`<line x1="${x0}" y1="${y0 + ph}" x2="${x0 + E * bw}" y2="${y0 + ph}" stroke="#8c959f"/>`, `<text x="${x0 - 4}" y="${y0 + 4}" text-anchor="end">${max}</text>`, `<text x="${x0 - 4}" y="${y0 + ph}" text-anchor="end">0</text>`);
  counts.forEach((c, e) => {
    const bh = (ph * c) / max;
    parts.push(`<rect class="load-bar" data-layer="${layer}" data-expert="${e}" data-count="${c}" x="${x0 + e * bw + 1}" y="${y0 + ph - bh}" width="${bw - 2}" height="${Math.max(bh, 0)}" fill="${expertColor(e)}"><title>layer ${layer} · expert ${e}: ${c} token${c === 1 ? '' : 's'} (${pct(c / Math.max(1, T * K))})</title></rect>`);
    if (E <= 16) parts.push(`<text x="${x0 + (e + 0.5) * bw}" y="${y0 + ph + 12}" text-anchor="middle">${e}</text>`);
  });
  const ey = y0 + ph - (ph * even) / max;
  parts.push(`<line x1="${x0}" y1="${ey}" x2="${x0 + E * bw}" y2="${ey}" stroke="#57606a" stroke-dasharray="3,3"/>`, '</svg>');
  parts.push(`<figcaption>layer ${layer}</figcaption></figure>`);
  return parts.join('');
}

function attentionMap(layer: number, head: number, probs: Float32Array[], t: Trace, maxCells: number): string {
  const T = probs.length;
  const cs = clamp(Math.floor(320 / T), 1, 20), lab = T <= 40 && cs >= 8 ? labelSpace(t, T, cs) : 24;
  const x0 = lab, y0 = 4, w = x0 + T * cs + 6, h = y0 + T * cs + lab;
  const parts = [`<figure class="attn-map" data-layer="${layer}" data-head="${head}" data-tokens="${T}"><svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="attention, layer ${layer} head ${head}">`];
  if ((T * (T + 1)) / 2 > maxCells) {
    const rgb = new Uint8Array(T * T * 3).fill(255);
    probs.forEach((row, q) => row.forEach((p, k) => rgb.set(blues(Math.sqrt(p)), (q * T + k) * 3)));
    parts.push(`<image class="attn-raster" x="${x0}" y="${y0}" width="${T * cs}" height="${T * cs}" preserveAspectRatio="none" href="${pngDataUrl(T, T, rgb)}"/>`);
  } else {
    probs.forEach((row, q) => row.forEach((p, k) => {
      parts.push(`<rect class="attn-cell" data-q="${q}" data-k="${k}" data-p="${p.toFixed(4)}" x="${x0 + k * cs}" y="${y0 + q * cs}" width="${cs}" height="${cs}" fill="${hex(blues(Math.sqrt(p)))}"><title>query ${q} ${esc(JSON.stringify(t.pieces[q]))} → key ${k} ${esc(JSON.stringify(t.pieces[k]))}: ${pct(p)}</title></rect>`);
    }));
  }
  parts.push(`<rect x="${x0}" y="${y0}" width="${T * cs}" height="${T * cs}" fill="none" stroke="#d0d7de"/>`);
  if (T <= 40 && cs >= 8) {
    t.pieces.slice(0, T).forEach((p, i) => parts.push(`<text class="mono" x="${x0 - 3}" y="${y0 + (i + 0.5) * cs + 4}" text-anchor="end">${esc(showPiece(p, 10))}</text>`));
    parts.push(xAxis(t, T, x0, cs, y0 + T * cs + 6));
  }
  parts.push(`</svg><figcaption>layer ${layer} · head ${head}</figcaption></figure>`);
  return parts.join('');
}

function lensTable(t: Trace): string {
  const positions = [...new Set(t.lens.map((c) => c.position))].sort((a, b) => a - b);
  const layers = [...new Set(t.lens.map((c) => c.layer))].sort((a, b) => a - b);
  const cell = new Map(t.lens.map((c) => [`${c.layer}:${c.position}`, c]));
  const pieceOf = pieceLookup(t);
  const head = `<tr><th>layer \\ token</th>${positions.map((p) => `<th title="position ${p}">${p}<br>${esc(showPiece(t.pieces[p], 10))}</th>`).join('')}</tr>`;
  const rows = layers.map((l) => `<tr><th>${l === t.model.nLayers - 1 ? `L${l} (output)` : `L${l}`}</th>${positions.map((p) => {
    const c = cell.get(`${l}:${p}`);
    if (!c || c.top.length === 0) return '<td></td>';
    const top = c.top[0], bg = blues(0.15 + 0.85 * top.prob);
    const tip = `layer ${l} · after token ${p} ${JSON.stringify(t.pieces[p])}\n${c.top.map((x) => `${JSON.stringify(pieceOf(x.id))} (${x.id}) ${pct(x.prob)}`).join('\n')}`;
    return `<td class="lens-cell" data-layer="${l}" data-position="${p}" data-token="${top.id}" data-prob="${top.prob.toFixed(4)}" style="background:${hex(bg)};color:${top.prob > 0.45 ? '#fff' : '#1d2530'}" title="${esc(tip)}">${esc(showPiece(pieceOf(top.id), 10))}</td>`;
  }).join('')}</tr>`);
  return `<table class="lens">${head}${rows.join('')}</table>`;
}

/** Text of a token the trace mentions. */
function pieceLookup(t: Trace): (id: number) => string {
  return (id) => t.tokenText.get(id) ?? `#${id}`;
}

function nextChart(next: readonly TokenProb[], t: Trace, cls: string): string {
  if (next.length === 0) return '<p class="note">(no next-token distribution)</p>';
  const pieceOf = pieceLookup(t);
  const rh = 18, x0 = 130, bw = 320, w = x0 + bw + 70, h = next.length * rh + 6;
  const max = Math.max(...next.map((n) => n.prob));
  const parts = [`<svg class="next-chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="next-token distribution">`];
  next.forEach((n, i) => {
    const y = 3 + i * rh, len = (bw * n.prob) / max;
    parts.push(`<text class="mono" x="${x0 - 6}" y="${y + 12}" text-anchor="end">${esc(showPiece(pieceOf(n.id), 16))}</text>`);
    parts.push(`<rect class="${cls}" data-token="${n.id}" data-prob="${n.prob.toFixed(5)}" x="${x0}" y="${y + 2}" width="${Math.max(len, 1)}" height="${rh - 5}" fill="${i === 0 ? '#2171b5' : '#6baed6'}"><title>${esc(JSON.stringify(pieceOf(n.id)))} (id ${n.id}): ${pct(n.prob)}, logit ${fmt(n.logit)}</title></rect>`);
    parts.push(`<text x="${x0 + len + 5}" y="${y + 12}">${pct(n.prob)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

function comparisonSection(c: TraceComparison, a: Trace, b: Trace, maxCells: number): string {
  const [la, lb] = c.labels;
  const out: string[] = ['<section class="card compare-card">', `<h2>Where ${esc(la)} and ${esc(lb)} diverge</h2>`];
  const items: string[] = [];
  items.push(c.firstTokenDifference === null ? `The first ${c.positions} tokens are identical.` : `The prompts differ from token ${c.firstTokenDifference} on (${c.positions} positions compared).`);
  if (c.routingAgreement.length > 0) {
    const same = c.routingAgreement.reduce((s, r) => s + r.same, 0), total = c.routingAgreement.reduce((s, r) => s + r.total, 0);
    items.push(c.firstRoutingDivergence ? `Routing first differs at token ${c.firstRoutingDivergence.position}, layer ${c.firstRoutingDivergence.layer}; ${same} of ${total} (layer, token) choices agree (${pct(same / Math.max(1, total))}).` : `Routing is identical on all ${total} (layer, token) choices.`);
  }
  items.push(c.firstPredictionDivergence === null ? 'The per-position predictions (top-1) agree everywhere compared.' : `The top-1 prediction first differs after token ${c.firstPredictionDivergence}.`);
  items.push(`Next token: ${c.next.sameTop ? 'same' : 'different'} top-1 (${esc(JSON.stringify(pieceLookup(a)(c.next.a[0]?.id ?? -1)))} vs ${esc(JSON.stringify(pieceLookup(b)(c.next.b[0]?.id ?? -1)))})${c.next.totalVariation !== null ? `; total variation ${c.next.totalVariation.toFixed(4)}, KL(${esc(la)}‖${esc(lb)}) ${c.next.kl!.toFixed(4)} nats` : ''}.`);
  out.push(`<ul class="summary">${items.map((s) => `<li>${s}</li>`).join('')}</ul>`);

  if (c.routing.length > 0) {
    const layers = c.routingAgreement.map((r) => r.layer), T = c.positions;
    const cw = clamp(Math.floor(1100 / T), 2, 28), ch = 20, x0 = 110, y0 = 4;
    const w = x0 + T * cw + 10, h = y0 + layers.length * ch + labelSpace(a, T, cw);
    const byKey = new Map(c.routing.map((r) => [`${r.layer}:${r.position}`, r]));
    const parts = [`<h3>Routing agreement</h3><p class="note">Green: both route the token to the same experts; red: they differ (hover for both choices). Row label: agreement in that layer.</p><svg class="routing-diff" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`];
    c.routingAgreement.forEach((r, i) => parts.push(`<text x="${x0 - 6}" y="${y0 + i * ch + ch / 2 + 4}" text-anchor="end">L${r.layer} · ${pct(r.same / Math.max(1, r.total))}</text>`));
    if (layers.length * T > maxCells) {
      const rgb = new Uint8Array(layers.length * T * 3).fill(255);
      layers.forEach((l, i) => { for (let p = 0; p < T; p++) { const d = byKey.get(`${l}:${p}`); if (d) rgb.set(d.same ? [166, 219, 160] : [215, 48, 39], (i * T + p) * 3); } });
      parts.push(`<image x="${x0}" y="${y0}" width="${T * cw}" height="${layers.length * ch}" preserveAspectRatio="none" href="${pngDataUrl(T, layers.length, rgb)}"/>`);
    } else {
      layers.forEach((l, i) => {
        for (let p = 0; p < T; p++) {
          const d = byKey.get(`${l}:${p}`);
          if (!d) continue;
          const desc = (e: number[], wts: number[]) => (e.length === 0 ? 'none' : e.map((x, j) => `${x} (${wts[j].toFixed(3)})`).join(', '));
          parts.push(`<rect class="diff-cell ${d.same ? 'same' : 'differs'}" data-layer="${l}" data-position="${p}" data-same="${d.same}" x="${x0 + p * cw}" y="${y0 + i * ch}" width="${cw - (cw > 3 ? 1 : 0)}" height="${ch - 1}" fill="${d.same ? '#a6dba0' : '#d73027'}"><title>layer ${l} · token ${p}\n${esc(la)}: expert ${esc(desc(d.a, d.aWeights))}\n${esc(lb)}: expert ${esc(desc(d.b, d.bWeights))}</title></rect>`);
        }
      });
    }
    parts.push(xAxis(a, T, x0, cw, y0 + layers.length * ch + 6), '</svg>');
    out.push(parts.join(''));
  }

  if (c.lens.length > 0) {
    const positions = [...new Set(c.lens.map((d) => d.position))].sort((x, y) => x - y);
    const layers = [...new Set(c.lens.map((d) => d.layer))].sort((x, y) => x - y);
    const byKey = new Map(c.lens.map((d) => [`${d.layer}:${d.position}`, d]));
    const pa = pieceLookup(a), pb = pieceLookup(b);
    const rows = layers.map((l) => `<tr><th>L${l}</th>${positions.map((p) => {
      const d = byKey.get(`${l}:${p}`);
      if (!d) return '<td></td>';
      const ta = d.a ? pa(d.a.id) : '', tb = d.b ? pb(d.b.id) : '';
      return `<td class="lens-diff-cell ${d.same ? 'same' : 'differs'}" data-layer="${l}" data-position="${p}" title="${esc(`${la}: ${JSON.stringify(ta)} ${d.a ? pct(d.a.prob) : ''}\n${lb}: ${JSON.stringify(tb)} ${d.b ? pct(d.b.prob) : ''}`)}">${d.same ? esc(showPiece(ta, 8)) : `${esc(showPiece(ta, 8))}<br>${esc(showPiece(tb, 8))}`}</td>`;
    }).join('')}</tr>`);
    out.push(`<h3>Logit-lens top-1</h3><p class="note">Green: the same top token; red: ${esc(la)}'s above ${esc(lb)}'s.</p><table class="lens lens-diff"><tr><th>layer \\ token</th>${positions.map((p) => `<th>${p}</th>`).join('')}</tr>${rows.join('')}</table>`);
  }
  out.push(`<h3>Next-token distributions</h3><div class="grid"><figure>${nextChart(c.next.a, a, 'next-bar-a')}<figcaption>${esc(la)}</figcaption></figure><figure>${nextChart(c.next.b, b, 'next-bar-b')}<figcaption>${esc(lb)}</figcaption></figure></div>`);
  out.push('</section>');
  return out.join('\n');
}
