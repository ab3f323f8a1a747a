import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { isSightlineError } from '@sightline/core';
import type { Clock } from '../clock.js';
import { AgentError } from '../errors.js';
import { isRegistered } from '../identity/register.js';
import { layout } from '../storage/data-dir.js';
import { RootKeyManager } from '../storage/root-key.js';
import { EncryptedStore } from '../storage/store.js';
import type { Tpm } from '../storage/tpm.js';
import { UpdateError } from '../update/errors.js';
import { MAX_TRIAL_ATTEMPTS, otherSlot, SlotsDir, UpdateRecords, type SlotName, type SlotState } from '../update/slots.js';
import { verifySlot, type VerifiedSlot } from './verify.js';

/** Exit code with which the agent asks the launcher to boot the slot now on trial (an update was installed). */
export const EXIT_BOOT_TRIAL = 10;

/** Environment the launcher gives the agent it starts. */
export const LAUNCH_ENV = { healthFile: 'SIGHTLINE_HEALTH_FILE', slotsDir: 'SIGHTLINE_SLOTS_DIR', slot: 'SIGHTLINE_SLOT' } as const;

export type LaunchLog = (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

export interface LauncherOptions {
  slotsDir: string;
  dataDir: string;
  tpm: Tpm;
  /** Arguments for the agent, e.g. `start --data-dir /var/lib/sightline-agent`. */
  args: readonly string[];
  /** The agent installed with the launcher, booted while no slot has been committed yet. */
  factoryEntry?: string;
  /** How long a slot on trial has to report healthy. */
  healthTimeoutMs: number;
  pollMs?: number;
  clock: Clock;
  log: LaunchLog;
  env?: NodeJS.ProcessEnv;
}

type Boot = { kind: 'slot'; verified: VerifiedSlot; trial: boolean } | { kind: 'factory'; entry: string };

const describe = (err: unknown): string =>
  (isSightlineError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err)).slice(0, 380);

/**
 * The "bootloader" (issue 7): verifies the slot it is about to start,
 * falls back to the other slot when that one fails, boots a freshly installed
 * slot on trial and commits it once the agent reports healthy, or returns to
 * the previous slot when it does not report in time or crashes three times
 * (Mender's ArtifactRollback). The floor is raised only on commit.
 */
export class Launcher {
  private readonly slots: SlotsDir;
  private child: ChildProcess | undefined;
  private stopping = false;

  constructor(private readonly o: LauncherOptions) {
    this.slots = new SlotsDir(o.slotsDir);
  }

  private async records(): Promise<UpdateRecords> {
    if (!isRegistered(this.o.dataDir))
      throw new AgentError(
        'NOT_REGISTERED',
        `No registered agent in ${layout(this.o.dataDir).root}; register it before starting the service.`,
      );
    const root = await new RootKeyManager(this.o.dataDir, this.o.tpm).load();
    const store = new EncryptedStore(layout(this.o.dataDir).store, root.key);
    root.key.fill(0);
    return new UpdateRecords(store);
  }

  /** Asks the agent to stop (SIGTERM) and the launcher to end once it has. */
  stop(): void {
    this.stopping = true;
    this.child?.kill('SIGTERM');
  }

  private async revert(state: SlotState, reason: string): Promise<SlotState> {
    const trial = state.trial;
    if (trial === undefined) return state;
    this.o.log('error', 'the release on trial did not become healthy: returning to the previous slot', { version: trial.version, reason });
    const next: SlotState = {
      ...state,
      trial: undefined,
      lastRevert: {
        version: trial.version,
        reason: reason.slice(0, 400),
        at: new Date(this.o.clock.now()).toISOString(),
        ...(trial.jobId === undefined ? {} : { jobId: trial.jobId }),
      },
    };
    delete next.trial;
    await this.slots.writeState(next);
    return next;
  }

  /** Picks what to boot, verifying it first; a trial past its attempts or failing verification is reverted here. */
  async choose(records: UpdateRecords): Promise<Boot> {
    let state = await this.slots.readState();
    const floor = await records.floor();
    if (state.trial !== undefined) {
      const trial = state.trial;
      if (trial.attempts >= MAX_TRIAL_ATTEMPTS) {
        state = await this.revert(state, `the agent ${trial.version} was started ${trial.attempts} times without reporting healthy`);
      } else {
        try {
          return { kind: 'slot', verified: await verifySlot(this.slots, records, trial.slot, floor), trial: true };
        } catch (err) {
          state = await this.revert(state, `slot ${trial.slot} did not verify: ${describe(err)}`);
        }
      }
    }
    if (state.active === undefined) {
      if (this.o.factoryEntry === undefined || floor > 0)
        throw new UpdateError(
          'LAUNCH_NO_VERIFIED_SLOT',
          'No release is installed in a slot and the factory agent cannot be used; reinstall the agent.',
        );
      return { kind: 'factory', entry: this.o.factoryEntry };
    }
    const failures: string[] = [];
    for (const slot of [state.active, otherSlot(state.active)] as SlotName[]) {
      try {
        const verified = await verifySlot(this.slots, records, slot, floor);
        if (slot !== state.active) {
          // Refuse the active slot, start the other one, and say why (issue 7).
          const reason = failures.join('; ');
          this.o.log('error', 'the active slot does not verify: starting the other slot', { active: state.active, started: slot, reason });
          await this.slots.writeState({
            ...state,
            lastFallback: { from: state.active, reason: reason.slice(0, 400), at: new Date(this.o.clock.now()).toISOString() },
          });
        }
        return { kind: 'slot', verified, trial: false };
      } catch (err) {
        failures.push(describe(err));
      }
    }
    // After a full reset the sealed slot records went with the old root key: with no record and no floor, the
    // device is as new and runs its factory agent until an update fills a slot again.
    if (
      floor === 0 &&
      this.o.factoryEntry !== undefined &&
      (await records.slot('a')) === undefined &&
      (await records.slot('b')) === undefined
    ) {
      this.o.log('warn', 'no slot has a sealed record (a full reset?): starting the factory-installed agent');
      await this.slots.writeState({ v: 1 });
      return { kind: 'factory', entry: this.o.factoryEntry };
    }
    throw new UpdateError('LAUNCH_NO_VERIFIED_SLOT', `Neither slot verifies, so no agent is started: ${failures.join('; ')}`);
  }

  private start(entry: string, slot: string): ChildProcess {
    const env = {
      ...(this.o.env ?? process.env),
      [LAUNCH_ENV.healthFile]: this.slots.healthFile,
      [LAUNCH_ENV.slotsDir]: this.slots.root,
      [LAUNCH_ENV.slot]: slot,
    };
    const child = spawn(process.execPath, [entry, ...this.o.args], { stdio: 'inherit', env });
    this.child = child;
    return child;
  }

  private exited(child: ChildProcess): Promise<number> {
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? 1);
      child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    });
  }

  /** Waits for the health report of `child`, its exit, or the deadline, whichever comes first. */
  private async watch(child: ChildProcess): Promise<{ kind: 'healthy' } | { kind: 'exit'; code: number } | { kind: 'timeout' }> {
    let exitCode: number | undefined;
    void this.exited(child).then((c) => (exitCode = c));
    const until = this.o.clock.now() + this.o.healthTimeoutMs;
    for (;;) {
      if (exitCode !== undefined) return { kind: 'exit', code: exitCode };
      const text = await readFile(this.slots.healthFile, 'utf8').catch(() => '');
      if (text !== '') {
        try {
          if ((JSON.parse(text) as { pid?: unknown }).pid === child.pid) return { kind: 'healthy' };
        } catch {
          // half-written: read again
        }
      }
      if (this.o.clock.now() >= until) return { kind: 'timeout' };
      await this.o.clock.sleep(this.o.pollMs ?? 200);
    }
  }

  private async commit(records: UpdateRecords, slot: SlotName): Promise<void> {
    const state = await this.slots.readState();
    const trial = state.trial;
    if (trial?.slot !== slot) return;
    const rec = await records.slot(slot);
    if (rec === undefined) throw new UpdateError('SLOT_STATE_INVALID', `Slot ${slot} lost its record during its trial.`);
    const now = new Date(this.o.clock.now());
    // Seed point 13: a required release raises the anti-rollback floor once it is committed.
    const floor = rec.required ? await records.raiseFloor(rec.securityVersion, now) : await records.floor();
    const next: SlotState = {
      ...state,
      active: slot,
      lastCommit: { version: trial.version, at: now.toISOString(), ...(trial.jobId === undefined ? {} : { jobId: trial.jobId }) },
    };
    delete next.trial;
    await this.slots.writeState(next);
    this.o.log('info', 'release committed', { version: trial.version, slot, floor });
  }

  /** Runs until the agent exits (its exit code is returned) or `stop` is called. */
  async run(): Promise<number> {
    const records = await this.records();
    for (;;) {
      if (this.stopping) return 0;
      const boot = await this.choose(records);
      await rm(this.slots.healthFile, { force: true });
      if (boot.kind === 'factory') {
        this.o.log('info', 'starting the factory-installed agent (no slot committed yet)');
        const code = await this.exited(this.start(boot.entry, 'factory'));
        if (code === EXIT_BOOT_TRIAL && !this.stopping) continue;
        return code;
      }
      const { verified } = boot;
      if (!boot.trial) {
        this.o.log('info', 'starting the agent', { slot: verified.slot, version: verified.version });
        const code = await this.exited(this.start(verified.entry, verified.slot));
        if (code === EXIT_BOOT_TRIAL && !this.stopping) continue;
        return code;
      }
      // Trial boot: count the attempt before starting, so a crash of the whole machine counts too.
      const state = await this.slots.readState();
      if (state.trial === undefined) continue;
      const attempt = state.trial.attempts + 1;
      await this.slots.writeState({ ...state, trial: { ...state.trial, attempts: attempt } });
      this.o.log('warn', 'starting a new release on trial', { slot: verified.slot, version: verified.version, attempt });
      const child = this.start(verified.entry, verified.slot);
      const seen = await this.watch(child);
      if (seen.kind === 'healthy') {
        await this.commit(records, verified.slot);
        const code = await this.exited(child);
        if (code === EXIT_BOOT_TRIAL && !this.stopping) continue;
        return code;
      }
      if (this.stopping) return seen.kind === 'exit' ? seen.code : 0;
      if (seen.kind === 'timeout') {
        child.kill('SIGKILL');
        await this.exited(child);
        await this.revert(await this.slots.readState(), `no health report within ${Math.round(this.o.healthTimeoutMs / 1000)} s`);
        continue;
      }
      this.o.log('error', 'the release on trial exited before reporting healthy', { version: verified.version, code: seen.code, attempt });
      if (attempt >= MAX_TRIAL_ATTEMPTS)
        await this.revert(await this.slots.readState(), `the agent crashed ${attempt} times (last exit code ${seen.code})`);
    }
  }
}
