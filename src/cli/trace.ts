/**
 * `llama4 trace [model] --prompt TEXT [--layers …] [--heads …] [--out report.html] [--json [file]]`:
 * one prompt through the model with recording hooks, written as a self-contained HTML report
 * and/or JSON. `--compare` traces two prompts (or two models) and shows where they diverge;
 * interventions (--steer, --ablate-head, --ablate-expert, --force-route) trace the prompt clean
 * and intervened and compare the two.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { LoadQuantType } from '../quant/quantize-model.js';
import { Llama4Error } from '../errors.js';
import type { LoadedModel } from '../load.js';
import { compareTraces, type TraceComparison } from '../inspect/compare.js';
import { isEmptyInterventions, validateInterventions, type ForcedRoute, type Interventions } from '../inspect/interventions.js';
import { renderReport } from '../inspect/report.js';
import { traceTokens, traceToJson, type Trace, type TraceSpec } from '../inspect/trace.js';
import { action, collect, float, int, openModel, parseIdList, BACKEND_OPTION, precisionOption, THREADS_OPTION, QUANT_OPTION } from './common.js';

interface Flags {
  prompt: string[]; ids?: number[]; layers?: number[]; heads?: number[]; lensPositions?: number[]; lensTop?: number; nextTop?: number;
  out?: string; json?: string | boolean; compare?: boolean; routerLogits?: boolean;
  ablateExpert: string[]; reroute?: boolean; ablateHead: string[]; steer: string[]; steerScale?: number; forceRoute: string[];
  backend?: string; threads?: number; quant?: LoadQuantType; precision?: string;
}

/** The n colon-separated fields of a flag value ("2:3"). */
function fields(flag: string, value: string, n: number): string[] {
  const parts = value.split(':');
  if (parts.length !== n) throw new Llama4Error(`${flag} takes ${n} colon-separated fields (got '${value}')`);
  return parts;
}
const nonNeg = (flag: string, s: string) => {
  const v = Number(s);
  if (s.trim() === '' || !Number.isInteger(v) || v < 0) throw new Llama4Error(`${flag}: '${s}' is not a non-negative integer`);
  return v;
};

function readVector(path: string): number[] {
  if (!existsSync(path)) throw new Llama4Error('file not found', { source: path });
  let json: unknown;
  try { json = JSON.parse(readFileSync(path, 'utf8')); } catch (err) { throw new Llama4Error(`invalid JSON: ${(err as Error).message}`, { source: path }); }
  const v = Array.isArray(json) ? json : (json as { vector?: unknown })?.vector;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new Llama4Error('expected a JSON array of numbers (or {"vector": […]})', { source: path });
  return v as number[];
}

function interventionsFromFlags(o: Flags): Interventions {
  return {
    steer: o.steer.map((s) => {
      const i = s.indexOf(':');
      if (i < 0) throw new Llama4Error(`--steer takes LAYER:FILE (got '${s}')`);
      return { layer: nonNeg('--steer', s.slice(0, i)), vector: readVector(s.slice(i + 1)), scale: o.steerScale ?? 1 };
    }),
    ablateHeads: o.ablateHead.map((s) => { const [l, h] = fields('--ablate-head', s, 2); return { layer: nonNeg('--ablate-head', l), head: nonNeg('--ablate-head', h) }; }),
    disableExperts: o.ablateExpert.map((s) => { const [l, e] = fields('--ablate-expert', s, 2); return { layer: nonNeg('--ablate-expert', l), expert: nonNeg('--ablate-expert', e), mode: o.reroute ? 'reroute' as const : 'drop' as const }; }),
    forceRoutes: o.forceRoute.map((s): ForcedRoute => {
      const [l, p, es] = fields('--force-route', s, 3);
      return { layer: nonNeg('--force-route', l), position: nonNeg('--force-route', p), experts: es.split('+').map((e) => nonNeg('--force-route', e)) };
    }),
  };
}

/** Defaults that keep a report readable on a large model: every layer/head of a small one, a few of a big one. */
function traceSpec(m: LoadedModel, nTokens: number, o: Flags): TraceSpec {
  const { nLayers: L, nHeads: H } = m.config;
  const layers = o.layers ?? (L <= 8 ? Array.from({ length: L }, (_, l) => l) : [...new Set([0, Math.floor(L / 2), L - 1])]);
  const heads = o.heads ?? Array.from({ length: Math.min(H, H <= 8 ? H : 4) }, (_, h) => h);
  const lensPositions = o.lensPositions ?? (nTokens <= 64 ? undefined : Array.from({ length: 32 }, (_, i) => nTokens - 32 + i));
  for (const p of lensPositions ?? []) if (p >= nTokens) throw new Llama4Error(`--lens-positions asks for position ${p}, but the prompt has ${nTokens} tokens`);
  return { attention: { layers, heads }, lens: { positions: lensPositions, top: o.lensTop ?? 5 }, nextTop: o.nextTop ?? 20, routerLogits: o.routerLogits };
}

const shortText = (s: string, n = 40) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

export function registerTrace(program: Command): void {
  program.command('trace')
    .description('trace a prompt through the model (routing, attention, logit lens) into an HTML report and/or JSON')
    .argument('[models...]', 'HF folder or .gguf file (default: the built-in tiny model); two with --compare')
    .option('-p, --prompt <text>', 'prompt text (tokenized with BOS); give two with --compare', collect, [] as string[])
    .option('--ids <ids>', 'prompt token ids instead of text, comma-separated, used as they are', parseIdList('--ids'))
    .option('--layers <list>', 'layers whose attention maps to draw (default: all, or first/middle/last above 8 layers)', parseIdList('--layers'))
    .option('--heads <list>', 'query heads to draw for those layers (default: all, or 0-3 above 8 heads)', parseIdList('--heads'))
    .option('--lens-positions <list>', 'positions of the logit lens (default: all up to 64 tokens, else the last 32)', parseIdList('--lens-positions'))
    .option('--lens-top <n>', 'top tokens kept per logit-lens cell', int('--lens-top', 1), 5)
    .option('--next-top <n>', 'tokens shown of the next-token distribution', int('--next-top', 1), 20)
    .option('--out <file>', 'write the HTML report here (self-contained, opens offline)')
    .option('--json [file]', 'write the trace as JSON to a file (stdout when no file is given)')
    .option('--router-logits', 'include every MoE layer\'s raw router logits in the JSON')
    .option('--compare', 'trace two prompts (--prompt twice) or two models and show where they diverge')
    .option('--ablate-expert <layer:expert>', 'disable an expert (its tokens lose its output; repeatable)', collect, [] as string[])
    .option('--reroute', 'disabled experts\' tokens go to their next-best expert instead')
    .option('--ablate-head <layer:head>', 'zero a query head\'s output (repeatable)', collect, [] as string[])
    .option('--steer <layer:file>', 'add the vector in a JSON file to the residual stream after that layer (repeatable)', collect, [] as string[])
    .option('--steer-scale <x>', 'multiplier of the --steer vectors', float('--steer-scale'))
    .option('--force-route <layer:position:experts>', 'route a token to these experts, e.g. 2:5:3 or 2:5:1+3 (repeatable)', collect, [] as string[])
    .addOption(BACKEND_OPTION).addOption(precisionOption('exact')).addOption(THREADS_OPTION).addOption(QUANT_OPTION)
    .action(action(async (modelPaths: string[], o: Flags) => {
      const prompts: ({ text?: string; ids?: number[] })[] = o.prompt.map((text) => ({ text }));
      if (o.ids) prompts.push({ ids: o.ids });
      const iv = interventionsFromFlags(o);
      const intervening = !isEmptyInterventions(iv);
      if (prompts.length === 0) throw new Llama4Error('give the prompt with --prompt (or --ids)');
      if (o.compare) {
        const ok = (modelPaths.length === 2 && prompts.length === 1) || (modelPaths.length <= 1 && prompts.length === 2);
        if (!ok) throw new Llama4Error('--compare takes two prompts (--prompt twice) on one model, or one prompt on two models');
        if (intervening) throw new Llama4Error('interventions already compare a clean and an intervened run; they cannot be combined with --compare');
      } else if (modelPaths.length > 1 || prompts.length > 1) {
        throw new Llama4Error('two models or two prompts need --compare');
      }

      const models: LoadedModel[] = [];
      for (const path of modelPaths.length > 0 ? modelPaths : [undefined]) models.push(await openModel(path, o));
      const run = (m: LoadedModel, p: { text?: string; ids?: number[] }, spec: TraceSpec | null, ivs?: Interventions): Trace => {
        const tokens = p.ids ?? m.tokenizer.encode(p.text!);
        const s = spec ?? traceSpec(m, tokens.length, o);
        return traceTokens(m.model, tokens, { ...s, interventions: ivs }, { tokenizer: m.tokenizer, prompt: p.text ?? `ids ${tokens.join(',')}`, name: basename(m.path) });
      };

      const traces: { label: string; trace: Trace }[] = [];
      let comparison: TraceComparison | undefined;
      if (intervening) {
        validateInterventions(models[0].config, iv);
        const clean = run(models[0], prompts[0], null);
        const tokens = clean.tokens;
        const spec = traceSpec(models[0], tokens.length, o);
        traces.push({ label: 'clean', trace: clean }, { label: 'intervened', trace: run(models[0], prompts[0], spec, iv) });
      } else if (o.compare && models.length === 2) {
        const labels = models.map((m) => basename(m.path));
        if (labels[0] === labels[1]) labels[1] += ' (2)';
        models.forEach((m, i) => traces.push({ label: labels[i], trace: run(m, prompts[0], null) }));
      } else if (o.compare) {
        prompts.forEach((p, i) => traces.push({ label: `${'AB'[i]}: ${JSON.stringify(shortText(p.text ?? `ids ${p.ids!.join(',')}`))}`, trace: run(models[0], p, null) }));
      } else {
        traces.push({ label: basename(models[0].path), trace: run(models[0], prompts[0], null) });
      }
      if (traces.length === 2) comparison = compareTraces(traces[0].trace, traces[1].trace, [traces[0].label, traces[1].label]);

      if (o.out !== undefined) writeFileSync(o.out, renderReport({ traces, comparison }));
      if (o.json !== undefined) {
        const json = traces.length === 1 ? traceToJson(traces[0].trace) : { a: traceToJson(traces[0].trace), b: traceToJson(traces[1].trace), labels: traces.map((t) => t.label), comparison };
        const text = `${JSON.stringify(json)}\n`;
        if (typeof o.json === 'string') writeFileSync(o.json, text); else process.stdout.write(text);
      }
      if (o.out === undefined && o.json === undefined) process.stdout.write(summary(traces, comparison));
      else if (o.out !== undefined) process.stderr.write(`llama4: wrote ${o.out}\n`);
    }));
}

/** A few lines for the terminal when neither --out nor --json is given. */
function summary(traces: readonly { label: string; trace: Trace }[], c?: TraceComparison): string {
  const lines: string[] = [];
  for (const { label, trace: t } of traces) {
    lines.push(`${label}: ${t.tokens.length} tokens`);
    const text = (id: number) => JSON.stringify(t.tokenText.get(id) ?? `#${id}`);
    for (const l of t.expertLoad) lines.push(`  layer ${l.layer} expert load: ${l.counts.join(' ')}`);
    lines.push(`  next: ${t.next.slice(0, 5).map((n) => `${text(n.id)} ${(100 * n.prob).toFixed(1)}%`).join(', ')}`);
  }
  if (c) {
    lines.push(`first routing divergence: ${c.firstRoutingDivergence ? `token ${c.firstRoutingDivergence.position}, layer ${c.firstRoutingDivergence.layer}` : 'none'}`);
    lines.push(`first prediction divergence: ${c.firstPredictionDivergence ?? 'none'}; next-token total variation: ${c.next.totalVariation?.toFixed(4) ?? 'n/a'}`);
  }
  lines.push('(use --out report.html or --json for the full trace)');
  return `${lines.join('\n')}\n`;
}
