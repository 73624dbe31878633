/**
 * Interpretability tools on the model's forward hooks: tracing (routing, attention, residuals,
 * logit lens), interventions (steering, head and expert ablation, forced routing), comparing two
 * traces, and the self-contained HTML report behind `llama4 trace`.
 */
export type { ForwardHooks, AttentionRow } from '../model/llama.js';
export type { Route } from '../model/ffn.js';
export { combineHooks, interventionHooks, validateInterventions, isEmptyInterventions, type Interventions, type Steering, type HeadAblation, type ExpertAblation, type ForcedRoute } from './interventions.js';
export { lensLogits, topTokens, softmax, type TokenProb } from './logit-lens.js';
export { traceTokens, traceToJson, createRecorder, modelInfo, type Trace, type TraceSpec, type TraceOptions, type RoutingRecord, type AttentionMap, type LensCell, type Stage } from './trace.js';
export { compareTraces, type TraceComparison, type RoutingDiff, type LensDiff } from './compare.js';
export { renderReport, type ReportInput } from './report.js';
