import { InvalidArgumentError } from 'commander';

/**
 * How transfers report progress on stderr:
 * - `auto`: on a terminal, one line redrawn in place (bytes, percent, MB/s,
 *   ETA); elsewhere nothing until done, then one summary line;
 * - `plain`: a line at every 10 %, for logs and CI;
 * - `none`: nothing.
 */
export type ProgressMode = 'auto' | 'plain' | 'none';

export function parseProgressMode(value: string): ProgressMode {
  if (value === 'auto' || value === 'plain' || value === 'none') return value;
  throw new InvalidArgumentError('Give auto, plain or none.');
}

/** `12345678` → `12.3 MB` (decimal units, as the MB/s beside it). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i] ?? 'TB'}`;
}

/** `75` → `1:15`, `3725` → `1:02:05`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

interface ProgressOptions {
  mode: ProgressMode;
  stream?: NodeJS.WriteStream;
  /** Milliseconds, monotonic; injectable for tests. */
  now?: () => number;
}

/** Redraws at most this often on a terminal. */
const REDRAW_MS = 100;

/**
 * A progress display for one transfer of `total` bytes, written to stderr
 * so stdout stays clean for `--json` and `--out -`.
 *
 * @example
 * ```ts
 * const p = new Progress('upload', size, { mode: 'auto' });
 * p.update(sent);
 * p.done();
 * ```
 */
export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly started: number;
  private bytes = 0;
  private lastDraw = -Infinity;
  private nextTenth = 1;
  private drawn = false;
  private closed = false;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly options: ProgressOptions,
  ) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.tty = options.mode === 'auto' && this.stream.isTTY === true;
    this.started = this.now();
  }

  private rate(): number {
    const secs = (this.now() - this.started) / 1000;
    return secs > 0 ? this.bytes / secs : 0;
  }

  private percent(): number {
    return this.total <= 0 ? 100 : Math.min(100, Math.floor((this.bytes / this.total) * 100));
  }

  private line(): string {
    const rate = this.rate();
    const eta = rate > 0 ? (this.total - this.bytes) / rate : Number.NaN;
    return (
      `${this.label} ${formatBytes(this.bytes)} / ${formatBytes(this.total)}  ${String(this.percent()).padStart(3)}%  ` +
      `${(rate / 1e6).toFixed(1)} MB/s  ETA ${formatDuration(eta)}`
    );
  }

  /** Bytes done so far (cumulative). */
  update(bytes: number): void {
    if (this.closed) return;
    this.bytes = bytes;
    if (this.tty) {
      const t = this.now();
      if (t - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = t;
      this.stream.write(`\r${this.line()}\u001b[K`);
      this.drawn = true;
    } else if (this.options.mode === 'plain') {
      // One line when a new tenth is reached (a large step may pass several); done() prints the 100 % line.
      let crossed = false;
      while (this.nextTenth <= 10 && this.total > 0 && this.bytes * 10 >= this.total * this.nextTenth) {
        crossed = true;
        this.nextTenth++;
      }
      if (crossed && this.bytes < this.total) this.stream.write(`${this.line()}\n`);
    }
  }

  /** The transfer is complete: a final line (on a terminal, the bar drawn at 100 %; elsewhere a summary). */
  done(): void {
    if (this.closed) return;
    this.bytes = this.total;
    this.closed = true;
    if (this.options.mode === 'none') return;
    const secs = (this.now() - this.started) / 1000;
    if (this.tty) {
      this.stream.write(`\r${this.line().replace(/ {2}ETA \S+$/, `  in ${formatDuration(secs)}`)}\u001b[K\n`);
      return;
    }
    this.stream.write(`${this.label} ${formatBytes(this.total)}  100%  ${(this.rate() / 1e6).toFixed(1)} MB/s  in ${secs.toFixed(1)} s\n`);
  }

  /** The transfer failed: ends the redrawn line so the error message starts on a line of its own. */
  fail(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.tty && this.drawn) this.stream.write('\n');
  }
}
