import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { isSightlineError } from '@sightline/core';
import { BUNDLE_ENTRY, openBundle, verifyTree } from '../update/bundle.js';
import { UpdateError } from '../update/errors.js';
import { customOf, loadRoot, loadTargets, verifyTargetFile } from '../update/release.js';
import type { SlotName, SlotRecord, SlotsDir, UpdateRecords } from '../update/slots.js';

export interface VerifiedSlot {
  slot: SlotName;
  version: string;
  record: SlotRecord;
  /** Absolute path of the agent's entry point in the slot. */
  entry: string;
}

/**
 * The launcher's check before it boots a slot (issue 7, "boot chain"): the
 * slot's sealed record names a target; the signed targets metadata in it must
 * carry the trusted root's targets signatures; the bundle must have that
 * target's length and hash; the unpacked files must be exactly the bundle
 * manifest's; and its security version must not be below the floor.
 */
export async function verifySlot(slots: SlotsDir, records: UpdateRecords, slot: SlotName, floor: number): Promise<VerifiedSlot> {
  try {
    const record = await records.slot(slot);
    if (record === undefined) throw new UpdateError('SLOT_UNVERIFIED', `Slot ${slot} holds no installed release.`);
    const root = loadRoot(Buffer.from(record.root, 'utf8'), `slot ${slot}'s root`);
    const targets = loadTargets(root, Buffer.from(record.targets, 'utf8'), `slot ${slot}'s targets metadata`);
    const target = targets.signed.targets[record.target];
    if (target === undefined) throw new UpdateError('SLOT_UNVERIFIED', `Slot ${slot}'s signed targets do not list ${record.target}.`);
    const custom = customOf(target);
    if (custom.version !== record.version || custom.securityVersion !== record.securityVersion)
      throw new UpdateError('SLOT_UNVERIFIED', `Slot ${slot}'s record disagrees with its signed metadata.`);
    // Seed point 13: nothing below the anti-rollback floor boots, not even a revert.
    if (custom.securityVersion < floor)
      throw new UpdateError(
        'UPDATE_BELOW_FLOOR',
        `Slot ${slot} holds ${custom.version} with security version ${custom.securityVersion}, below the floor ${floor}.`,
      );
    await verifyTargetFile(target, slots.bundle(slot));
    const manifest = await openBundle(slots.bundle(slot));
    if (manifest.version !== record.version) throw new UpdateError('SLOT_UNVERIFIED', `Slot ${slot}'s bundle is not ${record.version}.`);
    await verifyTree(slots.files(slot), manifest);
    const entry = join(slots.files(slot), BUNDLE_ENTRY);
    await access(entry).catch(() => {
      throw new UpdateError('SLOT_UNVERIFIED', `Slot ${slot} has no entry point ${BUNDLE_ENTRY}.`);
    });
    return { slot, version: record.version, record, entry };
  } catch (err) {
    if (err instanceof UpdateError && (err.code === 'SLOT_UNVERIFIED' || err.code === 'UPDATE_BELOW_FLOOR')) throw err;
    const why = isSightlineError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    throw new UpdateError('SLOT_UNVERIFIED', `Slot ${slot} does not verify (${why.slice(0, 300)}).`, { cause: err });
  }
}
