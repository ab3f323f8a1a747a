import { afterEach } from 'node:test';
import { CameraIngest, type CameraIngestOptions, type CameraState } from '../../src/camera/ingest.js';
import { until } from './wait.js';

/**
 * What camera tests start, stopped after each test (last first), so that one
 * test's streams do not load the next.
 */
export interface CameraTestScope {
  defer(stop: () => Promise<void>): void;
  /** A started ingest, stopped after the test. */
  ingest(options: CameraIngestOptions): CameraIngest;
}

export function cameraTestScope(): CameraTestScope {
  let stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    const now = stops.reverse();
    stops = [];
    for (const stop of now) await stop().catch(() => undefined);
  });
  return {
    defer: (stop) => void stops.push(stop),
    ingest(options) {
      const i = new CameraIngest(options);
      stops.push(() => i.stop());
      i.start();
      return i;
    },
  };
}

/** Polls `pred` every 25 ms until it holds; throws naming `label` after `timeoutMs`. */
export async function untilTrue(label: string, pred: () => boolean, timeoutMs = 10_000): Promise<void> {
  await until(label, () => (pred() ? true : undefined), timeoutMs, 25);
}

export async function untilState(i: CameraIngest, state: CameraState, timeoutMs = 10_000): Promise<void> {
  await untilTrue(
    `state ${state} (now ${i.status().state}, ${i.status().lastError?.code ?? 'no error'})`,
    () => i.status().state === state,
    timeoutMs,
  );
}

/** Mean of a sample of a frame's bytes: a real picture is neither black nor white. */
export function mean(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 97) s += b[i] ?? 0;
  return s / Math.ceil(b.length / 97);
}
