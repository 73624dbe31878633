/** Spawning the built CLI (never through a shell) and building scratch inputs for the CLI tests. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/fixtures.js';

/** The compiled CLI entry point. */
export const CLI = join(ROOT, 'dist/src/cli/main.js');

export interface CliResult {
  /** Exit status (null when killed). */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/**
 * Runs `node dist/src/cli/main.js ...args` from the repository root. `input` is written to stdin,
 * which is then closed (stdin is always a pipe, never a TTY). Killed after `timeoutMs`.
 */
export function runCli(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const argv = [...args];
  // LLAMA4_TEST_BACKEND=ref (or wasm) runs the compute commands on that backend instead of the default.
  const backend = process.env.LLAMA4_TEST_BACKEND;
  if (backend && ['run', 'chat', 'generate', 'logits'].includes(argv[0])) argv.push('--backend', backend);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...argv], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LLAMA4_DEBUG: '' },
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut });
    });
    child.stdin.on('error', () => { /* the CLI may exit before reading stdin */ });
    child.stdin.end(options.input ?? '');
  });
}

/** A fresh scratch folder under the OS temp dir; `cleanup` removes it. */
export function scratchDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `llama4-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Describes a result for assertion messages. */
export function describeResult(r: CliResult): string {
  return `status ${r.status}${r.signal ? ` (signal ${r.signal})` : ''}${r.timedOut ? ' (timed out)' : ''}\n--- stderr ---\n${r.stderr}--- stdout (first 500 chars) ---\n${r.stdout.slice(0, 500)}`;
}
