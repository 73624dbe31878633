/** The OpenAI-compatible server: `startServer` and the pieces it is built from. */
export { startServer, type ServerOptions, type RunningServer } from './server.js';
export { Scheduler, QueueFullError, type JobOptions, type JobResult } from './scheduler.js';
export { parseToolCalls, ToolCallStream, type ParsedToolCall, type ToolCallParse } from './tool-calls.js';
export { ApiError } from './errors.js';
