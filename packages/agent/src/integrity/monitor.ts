import type { KeyObject } from 'node:crypto';
import type { deviceApi } from '@sightline/protocol';
import type { z } from 'zod';
import type { Clock } from '../clock.js';
import { AgentError } from '../errors.js';
import { MANIFEST_FILE, compareTree, readManifestFile, verifyManifest } from './manifest.js';

export type IntegrityState = z.infer<typeof deviceApi.integrityState>;
export interface IntegrityStatus {
  state: IntegrityState;
  detail?: string;
  checkedAt?: string;
}

export interface IntegrityOptions {
  /** The agent's installed folder. */
  root: string;
  /** Release public keys (Ed25519) the manifest must be signed by. */
  trustedKeys: readonly KeyObject[];
  clock: Clock;
  /** How often to re-check; hourly by default (issue 5). */
  intervalMs: number;
}

const MAX_DETAIL = 512;

/**
 * Software integrity (seed point 13): the agent's files against the signed
 * manifest, at start and every `intervalMs`. Never pretends: with no
 * manifest (a development checkout) or no release key the state is
 * `unchecked`, said so in `detail`. `compromised` is sticky for the life of
 * the process, so a file changed and changed back is still reported.
 */
export class IntegrityMonitor {
  private current: IntegrityStatus = { state: 'unchecked', detail: 'not checked yet' };
  private readonly listeners = new Set<(s: IntegrityStatus) => void>();

  constructor(private readonly options: IntegrityOptions) {}

  status(): IntegrityStatus {
    return this.current;
  }

  onChange(listener: (s: IntegrityStatus) => void): void {
    this.listeners.add(listener);
  }

  async check(): Promise<IntegrityStatus> {
    const checkedAt = new Date(this.options.clock.now()).toISOString();
    let next: IntegrityStatus;
    try {
      next = { ...(await this.evaluate()), checkedAt };
    } catch (err) {
      const why = err instanceof AgentError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
      next = { state: 'compromised', detail: why.slice(0, MAX_DETAIL), checkedAt };
    }
    if (this.current.state === 'compromised' && next.state !== 'compromised') {
      next = { ...this.current, checkedAt }; // sticky: see the class comment
    }
    const changed = next.state !== this.current.state || next.detail !== this.current.detail;
    this.current = next;
    if (changed) for (const l of this.listeners) l(next);
    return next;
  }

  private async evaluate(): Promise<Omit<IntegrityStatus, 'checkedAt'>> {
    const text = await readManifestFile(this.options.root);
    if (text === undefined) {
      return {
        state: 'unchecked',
        detail: `no ${MANIFEST_FILE} in ${this.options.root} (a development checkout?): the agent's files are NOT verified`,
      };
    }
    if (this.options.trustedKeys.length === 0) {
      return {
        state: 'unchecked',
        detail: `${MANIFEST_FILE} is present but no release key is configured: the agent's files are NOT verified`,
      };
    }
    const payload = verifyManifest(text, this.options.trustedKeys);
    const problems = await compareTree(this.options.root, payload);
    if (problems.length === 0)
      return {
        state: 'verified',
        detail: `${Object.keys(payload.files).length} files match the manifest of ${payload.name} ${payload.version}`,
      };
    const first = problems.slice(0, 5).map((p) => `${p.path} ${p.kind}`);
    const more = problems.length > 5 ? `; ${problems.length - 5} more` : '';
    return { state: 'compromised', detail: `${first.join('; ')}${more}`.slice(0, MAX_DETAIL) };
  }

  /** Re-checks every interval until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.options.clock.sleep(this.options.intervalMs, signal);
      if (signal.aborted) break;
      await this.check();
    }
  }
}
