import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * Moves SQLite's WAL checkpoints off the event loop.
 *
 * better-sqlite3 is synchronous: with automatic checkpoints, the commit that
 * crosses the threshold copies the WAL back into the database file and
 * fsyncs it on the main thread, stalling every request for as long as the
 * disk takes (seconds on a busy disk: the fleet bench saw the event loop
 * blocked 1–3 s at 10,000 appliances while it used under half a core). Here
 * the main connection never checkpoints; a second connection in a worker
 * thread runs PASSIVE checkpoints (they never block writers or readers) on
 * a short interval. Durability is unchanged: WAL with synchronous NORMAL
 * commits without fsync either way; only where the copy-back runs moves.
 *
 * Fails safe: if the worker cannot start or dies, the main connection gets
 * automatic checkpoints back, so the WAL never grows without bound.
 */
export interface CheckpointerOptions {
  /** How often the worker checkpoints. */
  intervalMs?: number;
  /** The automatic threshold (pages) the main connection falls back to. */
  fallbackPages?: number;
  /** Test hook: the module the worker loads as better-sqlite3. */
  driverModule?: string;
}

export interface CheckpointStats {
  /** Checkpoints the worker ran. */
  runs: number;
  /** WAL frames copied back in all (the third column of `wal_checkpoint`). */
  framesCheckpointed: number;
  /** True once the worker failed and the main connection checkpoints itself again. */
  fellBack: boolean;
  lastError: string | undefined;
}

export interface Checkpointer {
  readonly stats: CheckpointStats;
  /** Resolves once the worker has run at least one more checkpoint (tests). */
  next(): Promise<void>;
  /** Stops the worker; the caller's close then checkpoints what is left. */
  stop(): Promise<void>;
}

// CommonJS, evaluated in the worker: small enough to read here, and it needs no TypeScript loader.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
const tick = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, checkpointed: row ? row.checkpointed : 0 });
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err && err.message || err) });
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
tick();
`;

export function startCheckpointer(main: BetterSqlite3.Database, file: string, options: CheckpointerOptions = {}): Checkpointer {
  const fallbackPages = options.fallbackPages ?? 4000;
  const stats: CheckpointStats = { runs: 0, framesCheckpointed: 0, fellBack: false, lastError: undefined };
  const waiters: (() => void)[] = [];
  let stopping = false;
  const fallBack = (why: string): void => {
    if (stats.fellBack || stopping) return;
    stats.fellBack = true;
    stats.lastError = why;
    if (main.open) main.pragma(`wal_autocheckpoint = ${fallbackPages}`);
    for (const w of waiters.splice(0)) w();
  };
  main.pragma('wal_autocheckpoint = 0');
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        file,
        intervalMs: options.intervalMs ?? 1000,
        driver: options.driverModule ?? createRequire(import.meta.url).resolve('better-sqlite3'),
      },
    });
  } catch (err) {
    fallBack(err instanceof Error ? err.message : String(err));
    return { stats, next: () => Promise.resolve(), stop: () => Promise.resolve() };
  }
  worker.unref();
  let exited = false;
  worker.on('message', (m: { ok: boolean; checkpointed?: number; error?: string }) => {
    if (m.ok) {
      stats.runs++;
      stats.framesCheckpointed += Math.max(0, m.checkpointed ?? 0);
    } else {
      // A busy database or a full disk: the next run tries again; the error is kept for whoever asks.
      stats.lastError = m.error;
    }
    for (const w of waiters.splice(0)) w();
    if (waiters.length === 0) worker.unref();
  });
  worker.on('error', (err) => fallBack(err.message));
  worker.on('exit', (code) => {
    exited = true;
    if (!stopping) fallBack(`the checkpoint worker exited (${code})`);
  });
  return {
    stats,
    next: () => {
      if (stats.fellBack || exited) return Promise.resolve();
      worker.ref(); // someone waits: keep the process up until the worker answers
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      if (exited) return;
      const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref();
      worker.postMessage('stop');
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
