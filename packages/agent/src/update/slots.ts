import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../storage/atomic.js';
import { processAlive } from '../storage/lock.js';
import type { EncryptedStore } from '../storage/store.js';
import { UpdateError } from './errors.js';

export type SlotName = 'a' | 'b';
export const otherSlot = (s: SlotName): SlotName => (s === 'a' ? 'b' : 'a');

/** How many times a slot on trial may start without reporting healthy before the launcher returns to the previous one. */
export const MAX_TRIAL_ATTEMPTS = 3;

/**
 * The A/B state (Mender's active/inactive partitions, in folders): which slot
 * is committed, which one is on trial and how often it was started. Plain
 * JSON (nothing secret), written atomically; a hand edit gains nothing, as
 * the launcher verifies whichever slot it boots against sealed records and
 * the floor.
 */
export const slotState = z
  .object({
    v: z.literal(1),
    /** The committed slot; absent while the agent runs from its factory install. */
    active: z.enum(['a', 'b']).optional(),
    trial: z
      .object({
        slot: z.enum(['a', 'b']),
        version: z.string().max(64),
        /** Starts so far (a crash or a reboot before the health report counts). */
        attempts: z.number().int().min(0),
        since: z.string(),
        /** The update job that asked for it, so the agent can report the outcome. */
        jobId: z.string().max(128).optional(),
      })
      .strict()
      .optional(),
    /** The last trial that did not commit: the version and why. */
    lastRevert: z
      .object({ version: z.string().max(64), reason: z.string().max(400), at: z.string(), jobId: z.string().max(128).optional() })
      .strict()
      .optional(),
    /** The last trial that committed. */
    lastCommit: z
      .object({ version: z.string().max(64), at: z.string(), jobId: z.string().max(128).optional() })
      .strict()
      .optional(),
    /** Set when the launcher could not verify the slot it meant to boot and started another one. */
    lastFallback: z
      .object({ from: z.string(), reason: z.string().max(400), at: z.string() })
      .strict()
      .optional(),
  })
  .strict();
export type SlotState = z.infer<typeof slotState>;

/** What the updater wrote about a slot once every check passed; sealed, so the launcher can trust it. */
export const slotRecord = z
  .object({
    v: z.literal(1),
    version: z.string().max(64),
    /** The TUF target name, e.g. `sightline-agent-1.2.0.tar`. */
    target: z.string().max(256),
    securityVersion: z.number().int().min(0),
    required: z.boolean(),
    /** The trusted root and the signed targets metadata the bundle verified against (JSON text). */
    root: z.string(),
    targets: z.string(),
    installedAt: z.string(),
  })
  .strict();
export type SlotRecord = z.infer<typeof slotRecord>;

const floorRecord = z.object({ v: z.literal(1), securityVersion: z.number().int().min(0), raisedAt: z.string().optional() }).strict();

export const SLOT_RECORD = (s: SlotName): string => `update-slot-${s}`;
const FLOOR_RECORD = 'update-floor';

/** Paths of the A/B install root. */
export class SlotsDir {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }
  slot(s: SlotName): string {
    return join(this.root, 'slots', s);
  }
  bundle(s: SlotName): string {
    return join(this.slot(s), 'bundle.tar');
  }
  files(s: SlotName): string {
    return join(this.slot(s), 'files');
  }
  get stateFile(): string {
    return join(this.root, 'state.json');
  }
  get healthFile(): string {
    return join(this.root, 'health.json');
  }
  get lockFile(): string {
    return join(this.root, 'install.lock');
  }

  async readState(): Promise<SlotState> {
    let text: string;
    try {
      text = await readFile(this.stateFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { v: 1 };
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text.slice(0, 64 * 1024));
    } catch (err) {
      throw new UpdateError('SLOT_STATE_INVALID', `${this.stateFile} is not JSON; restore it or reinstall the agent.`, { cause: err });
    }
    const parsed = slotState.safeParse(json);
    if (!parsed.success)
      throw new UpdateError(
        'SLOT_STATE_INVALID',
        `${this.stateFile} does not match the slot state (${parsed.error.issues[0]?.message ?? ''}).`,
      );
    return parsed.data;
  }

  async writeState(state: SlotState): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o755 });
    await writeFileAtomic(this.stateFile, Buffer.from(`${JSON.stringify(slotState.parse(state), null, 2)}\n`), 0o644);
  }

  /** One install at a time (the agent's update job, a local `update --bundle`). */
  async lock(): Promise<() => Promise<void>> {
    try {
      const fh = await open(this.lockFile, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(await readFile(this.lockFile, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid))
        throw new UpdateError('UPDATE_BUSY', `Another install (pid ${pid}) is writing the slots in ${this.root}; try again when it ends.`);
      await rm(this.lockFile, { force: true });
      return this.lock();
    }
    return () => rm(this.lockFile, { force: true });
  }
}

/** The sealed records of the update path, in the agent's encrypted store. */
export class UpdateRecords {
  constructor(private readonly store: EncryptedStore) {}

  /** Seed point 13: the anti-rollback floor, a counter that only goes up. */
  async floor(): Promise<number> {
    return (await this.store.readJson(FLOOR_RECORD, floorRecord))?.securityVersion ?? 0;
  }

  /** Raises the floor to `to`; never lowers it. */
  async raiseFloor(to: number, now: Date): Promise<number> {
    const current = await this.floor();
    if (to <= current) return current;
    await this.store.writeJson(FLOOR_RECORD, { v: 1, securityVersion: to, raisedAt: now.toISOString() });
    return to;
  }

  slot(s: SlotName): Promise<SlotRecord | undefined> {
    return this.store.readJson(SLOT_RECORD(s), slotRecord);
  }

  async writeSlot(s: SlotName, rec: SlotRecord): Promise<void> {
    await this.store.writeJson(SLOT_RECORD(s), slotRecord.parse(rec));
  }

  removeSlot(s: SlotName): Promise<void> {
    return this.store.remove(SLOT_RECORD(s));
  }
}
