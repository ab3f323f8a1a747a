import { SandboxError } from './errors.js';

/** The first id of the default range. */
export const DEFAULT_APP_UID_FIRST = 61000;

/**
 * Unprivileged ids for app processes, one per running node, from a range
 * no person or system service uses (default 61000-61999, below Debian's
 * dynamic-user range 61184-65519 only by convention: configure it per site).
 * An id returns to the pool when its node has stopped.
 */
export class UidPool {
  private readonly inUse = new Map<number, string>();

  constructor(
    readonly first: number,
    readonly count: number,
  ) {
    if (!Number.isInteger(first) || !Number.isInteger(count) || first < 1000 || count < 1 || first + count > 2 ** 31) {
      throw new SandboxError('SANDBOX_SPEC_INVALID', 'uidRange must be whole numbers: first at least 1000, count at least 1.');
    }
  }

  /** An id for `key`; `preferred` (e.g. the storage folder's owner from the last run) when it is free and in range. */
  allocate(key: string, preferred?: number): number {
    if (preferred !== undefined && this.contains(preferred) && !this.inUse.has(preferred)) {
      this.inUse.set(preferred, key);
      return preferred;
    }
    for (let uid = this.first; uid < this.first + this.count; uid++) {
      if (!this.inUse.has(uid)) {
        this.inUse.set(uid, key);
        return uid;
      }
    }
    throw new SandboxError('SANDBOX_UID_EXHAUSTED', `All ${this.count} app uids from ${this.first} are in use; widen uidRange.`);
  }

  release(uid: number): void {
    this.inUse.delete(uid);
  }

  contains(uid: number): boolean {
    return uid >= this.first && uid < this.first + this.count;
  }
}
