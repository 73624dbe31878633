/**
 * Download progress on stderr: on a terminal, a bar per file being fetched and one for the whole
 * pull (bytes, speed, ETA; cli-progress); otherwise plain lines, one when a file starts and ends
 * and a summary every 30 s, so logs stay readable.
 */
import type { MultiBar, SingleBar } from 'cli-progress';
import type { DownloadListener } from './download.js';
import { formatBytes } from './download.js';

export interface PullProgress extends DownloadListener {
  /** Stops the bars (call once, also after a failure). */
  finish(): void;
}

export interface ProgressOptions {
  readonly stream?: NodeJS.WriteStream;
  /** Bars when the stream is a TTY (default true). */
  readonly bars?: boolean;
  /** Bytes this pull will fetch, for the total bar (already-cached bytes excluded). */
  readonly totalBytes: number;
  readonly totalFiles: number;
  /** No output at all. */
  readonly quiet?: boolean;
}

function formatRate(bytesPerSecond: number): string {
  return Number.isFinite(bytesPerSecond) && bytesPerSecond > 0 ? `${formatBytes(Math.round(bytesPerSecond))}/s` : '-';
}

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/** Bytes-per-second over the last few seconds of samples. */
class Rate {
  private samples: { t: number; bytes: number }[] = [];
  private total = 0;
  add(bytes: number): void {
    this.total += bytes;
    const t = performance.now();
    this.samples.push({ t, bytes: this.total });
    while (this.samples.length > 2 && t - this.samples[0].t > 5000) this.samples.shift();
  }
  reset(): void { this.samples = []; this.total = 0; }
  perSecond(): number {
    if (this.samples.length < 2) return NaN;
    const a = this.samples[0], b = this.samples[this.samples.length - 1];
    return b.t > a.t ? ((b.bytes - a.bytes) * 1000) / (b.t - a.t) : NaN;
  }
}

const noop: PullProgress = { start() {}, advance() {}, restart() {}, done() {}, note() {}, finish() {} };

/** Progress for one pull: bars on a TTY, plain lines otherwise. */
export async function createProgress(o: ProgressOptions): Promise<PullProgress> {
  if (o.quiet) return noop;
  const stream = o.stream ?? process.stderr;
  if (o.bars !== false && stream.isTTY) return barProgress(stream, o, (await import('cli-progress')).MultiBar);
  return lineProgress(stream, o);
}

function lineProgress(stream: NodeJS.WritableStream, o: ProgressOptions): PullProgress {
  const t0 = performance.now();
  const files = new Map<string, { total: number; t: number; fetched: number }>();
  let fetched = 0, lastReport = t0;
  const line = (s: string) => stream.write(`${s}\n`);
  return {
    start(file, total, resumedFrom) {
      files.set(file, { total, t: performance.now(), fetched: 0 });
      line(`pulling ${file} (${formatBytes(total)}${resumedFrom > 0 ? `, ${formatBytes(resumedFrom)} already there` : ''})`);
    },
    advance(file, bytes) {
      fetched += bytes;
      const f = files.get(file);
      if (f) f.fetched += bytes;
      const now = performance.now();
      if (now - lastReport >= 30_000 && o.totalBytes > 0) {
        lastReport = now;
        const rate = (fetched * 1000) / (now - t0);
        line(`  ${formatBytes(fetched)} of ${formatBytes(o.totalBytes)} (${Math.min(100, Math.floor((100 * fetched) / o.totalBytes))}%), ${formatRate(rate)}, ETA ${formatEta((o.totalBytes - fetched) / rate)}`);
      }
    },
    restart(file) {
      const f = files.get(file);
      if (f) { fetched -= f.fetched; f.fetched = 0; }
    },
    done(file) {
      const f = files.get(file);
      if (!f) return;
      const s = (performance.now() - f.t) / 1000;
      line(`pulled ${file} (${formatBytes(f.total)} in ${s.toFixed(1)} s${s > 0.05 ? `, ${formatRate(f.fetched / s)}` : ''})`);
    },
    note(s) { line(s); },
    finish() {},
  };
}

function barProgress(stream: NodeJS.WriteStream, o: ProgressOptions, MultiBarClass: typeof MultiBar): PullProgress {
  // Room for the name: the line is about 50 columns plus the bar and the name.
  const columns = stream.columns ?? 100;
  const barsize = columns >= 140 ? 30 : columns >= 100 ? 20 : 12;
  const width = Math.max(12, Math.min(40, columns - barsize - 52));
  const label = (name: string) => (name.length > width ? `…${name.slice(-(width - 1))}` : name.padEnd(width));
  const multi = new MultiBarClass({
    stream,
    format: ' {name} |{bar}| {percentage}% {done}/{size} {speed} ETA {left}',
    barsize,
    hideCursor: true,
    clearOnComplete: false,
    autopadding: true,
    fps: 8,
  });
  const totalRate = new Rate();
  let fetched = 0;
  const totalBar: SingleBar | null = o.totalFiles > 1
    ? multi.create(Math.max(1, o.totalBytes), 0, { name: label('total'), done: formatBytes(0), size: formatBytes(o.totalBytes), speed: '-', left: '-' })
    : null;
  const bars = new Map<string, { bar: SingleBar; value: number; total: number; rate: Rate; fetched: number }>();
  const payload = (value: number, total: number, rate: Rate) => ({
    done: formatBytes(value), size: formatBytes(total), speed: formatRate(rate.perSecond()), left: formatEta((total - value) / rate.perSecond()),
  });
  const updateTotal = () => {
    totalBar?.update(fetched, payload(fetched, o.totalBytes, totalRate));
  };
  return {
    start(file, total, resumedFrom) {
      const rate = new Rate();
      const bar = multi.create(Math.max(1, total), resumedFrom, { name: label(file), ...payload(resumedFrom, total, rate) });
      bars.set(file, { bar, value: resumedFrom, total, rate, fetched: 0 });
    },
    advance(file, bytes) {
      const b = bars.get(file);
      if (b) { b.value += bytes; b.fetched += bytes; b.rate.add(bytes); b.bar.update(b.value, payload(b.value, b.total, b.rate)); }
      fetched += bytes;
      totalRate.add(bytes);
      updateTotal();
    },
    restart(file) {
      const b = bars.get(file);
      if (!b) return;
      fetched -= b.fetched;
      b.value = 0; b.fetched = 0; b.rate.reset();
      b.bar.update(0, payload(0, b.total, b.rate));
      updateTotal();
    },
    done(file) {
      // Finished files leave the bars (a 50-shard pull keeps a short display) and become a line above them.
      const b = bars.get(file);
      if (!b) return;
      multi.remove(b.bar);
      bars.delete(file);
      multi.log(`pulled ${file} (${formatBytes(b.total)})\n`);
      multi.update();
    },
    note(s) { multi.log(`${s}\n`); multi.update(); }, // log lines are written on the next redraw
    finish() { updateTotal(); multi.stop(); },
  };
}
