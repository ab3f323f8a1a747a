import { createHash } from 'node:crypto';
import type { appsApi } from '@sightline/protocol';
import type { IntegrityState } from '../integrity/monitor.js';

export type DesiredApp = appsApi.DesiredApp;

/** What the agent holds for one instance, as far as planning is concerned. */
export interface InstanceSnapshot {
  readonly instanceId: string;
  /** The revision the agent last acted on. */
  readonly revision: number;
  /** {@link deploymentKey} of what runs (or is being deployed). */
  readonly key: string;
  readonly phase: 'deploying' | 'running' | 'failed';
  /** A failed deployment to try again at the same revision (it failed while the control plane could not be reached). */
  readonly retry?: boolean;
  /** Camera nodes paused now. */
  readonly paused: readonly string[];
}

export interface AppsCurrent {
  readonly integrity: IntegrityState;
  readonly instances: readonly InstanceSnapshot[];
}

export type AppStep =
  /** Download, verify and start `app`; when the instance runs already, its old processes stop once the new ones run. */
  | { readonly kind: 'deploy'; readonly app: DesiredApp; readonly reason: 'new' | 'changed' | 'retry' }
  | { readonly kind: 'stop'; readonly instanceId: string; readonly reason: string }
  | { readonly kind: 'pause' | 'resume'; readonly instanceId: string; readonly camera: string }
  /** Nothing to run differently (a pause, or a bump): the instance now answers for `app.revision`. */
  | { readonly kind: 'adopt'; readonly app: DesiredApp };

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What must be the same for a running instance to stay as it is: everything
 * but the revision and the cameras' paused flags (a pause is applied in place,
 * not by a redeploy).
 */
export function deploymentKey(app: DesiredApp): string {
  const { revision: _revision, cameras, ...rest } = app;
  const body = { ...rest, cameras: cameras.map(({ paused: _paused, ...c }) => c) };
  return createHash('sha256').update(stable(body)).digest('hex');
}

/**
 * The app steps from `current` to `desired` (pure, like reconcile/planner.ts):
 *
 * - Seed point 13: a compromised agent runs no app. Every instance is stopped
 *   and none is started or changed until the integrity check passes again.
 * - An instance the control plane no longer lists is stopped.
 * - A revision older than or equal to the one acted on changes nothing (a
 *   failed deployment is not retried until the control plane changes it),
 *   except a failure marked `retry` (it happened while the control plane
 *   could not be reached) at the same revision and deployment key.
 * - A newer revision whose deployment key differs is a redeploy; one that
 *   only pauses or resumes cameras is applied in place, then adopted.
 */
export function planApps(current: AppsCurrent, desired: readonly DesiredApp[]): AppStep[] {
  const steps: AppStep[] = [];
  const have = [...current.instances].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  if (current.integrity === 'compromised') {
    for (const i of have) steps.push({ kind: 'stop', instanceId: i.instanceId, reason: 'integrity compromised' });
    return steps;
  }
  const wanted = new Map(desired.map((a) => [a.instanceId, a]));
  for (const i of have) if (!wanted.has(i.instanceId)) steps.push({ kind: 'stop', instanceId: i.instanceId, reason: 'removed' });
  const byId = new Map(have.map((i) => [i.instanceId, i]));
  for (const app of [...desired].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0))) {
    const now = byId.get(app.instanceId);
    if (now === undefined) {
      steps.push({ kind: 'deploy', app, reason: 'new' });
      continue;
    }
    if (now.phase === 'failed' && now.retry === true && app.revision === now.revision && deploymentKey(app) === now.key) {
      steps.push({ kind: 'deploy', app, reason: 'retry' });
      continue;
    }
    if (app.revision <= now.revision) continue;
    if (deploymentKey(app) !== now.key) {
      steps.push({ kind: 'deploy', app, reason: 'changed' });
      continue;
    }
    if (now.phase === 'failed') {
      steps.push({ kind: 'deploy', app, reason: 'retry' });
      continue;
    }
    const paused = new Set(now.paused);
    for (const cam of app.cameras) {
      if (cam.paused && !paused.has(cam.node)) steps.push({ kind: 'pause', instanceId: app.instanceId, camera: cam.node });
      if (!cam.paused && paused.has(cam.node)) steps.push({ kind: 'resume', instanceId: app.instanceId, camera: cam.node });
    }
    steps.push({ kind: 'adopt', app });
  }
  return steps;
}
