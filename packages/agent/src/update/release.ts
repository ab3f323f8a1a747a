import { createReadStream } from 'node:fs';
import { Metadata, MetadataKind, type TargetFile, type Root, type Targets } from '@tufjs/models';
import {
  ReleaseError,
  bundleTargetName,
  compareReleaseVersions,
  isReleaseVersion,
  sightlineTargetCustom,
  type SightlineTargetCustom,
} from '@sightline/core';
import { UpdateError } from './errors.js';

/** Most bytes of one metadata file the agent accepts (tuf-js's own defaults are 512 KiB for root, 16 KiB timestamp, 2 MiB snapshot, 5 MiB targets). */
export const MAX_METADATA_BYTES = 4 * 1024 * 1024;

/** The target name of an agent release (contracts: `sightline-agent-<version>.tar`). */
export function targetName(version: string): string {
  if (!isReleaseVersion(version))
    throw new UpdateError('UPDATE_CUSTOM_INVALID', `"${version.slice(0, 64)}" is not a release version (x.y.z).`);
  return bundleTargetName(version);
}

export type SightlineCustom = SightlineTargetCustom;

/** Sightline's fields in a target's custom metadata (issue 7), checked by core's reader. */
export function customOf(target: TargetFile): SightlineCustom {
  try {
    return sightlineTargetCustom(target.custom);
  } catch (err) {
    if (err instanceof ReleaseError)
      throw new UpdateError('UPDATE_CUSTOM_INVALID', `The target ${target.path} has no valid Sightline fields (${err.message})`, {
        cause: err,
      });
    throw err;
  }
}

/**
 * Sightline's own checks on a release that TUF already verified: the custom
 * fields name this version, the security version is not below the floor, and
 * this agent is new enough to install it. They run before any Sightline state
 * is written (the tough CVE-2025-2888 lesson: nothing is kept from a release
 * that has not passed every check).
 */
export function checkRelease(target: TargetFile, o: { version?: string; floor: number; agentVersion: string }): SightlineCustom {
  const custom = customOf(target);
  if (target.path !== targetName(custom.version))
    throw new UpdateError('UPDATE_CUSTOM_INVALID', `The target ${target.path} says it is version ${custom.version}.`);
  if (o.version !== undefined && custom.version !== o.version)
    throw new UpdateError('UPDATE_CUSTOM_INVALID', `The target ${target.path} is version ${custom.version}, not ${o.version}.`);
  // Seed point 13, issue 7: a release below the anti-rollback floor is refused even when validly signed.
  if (custom.securityVersion < o.floor)
    throw new UpdateError(
      'UPDATE_BELOW_FLOOR',
      `Release ${custom.version} has security version ${custom.securityVersion}, below this device's anti-rollback floor ${o.floor}; it cannot be installed. Publish a release with security version ${o.floor} or higher.`,
      { details: { version: custom.version, securityVersion: custom.securityVersion, floor: o.floor } },
    );
  if (custom.minAgentVersion !== undefined && compareReleaseVersions(o.agentVersion, custom.minAgentVersion) < 0)
    throw new UpdateError(
      'UPDATE_AGENT_TOO_OLD',
      `Release ${custom.version} needs agent ${custom.minAgentVersion} or later to install it; this agent is ${o.agentVersion}. Update to an intermediate release first.`,
    );
  return custom;
}

export function parseMetadataJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  if (bytes.length > MAX_METADATA_BYTES)
    throw new UpdateError('UPDATE_METADATA_INVALID', `${what} is larger than ${MAX_METADATA_BYTES} bytes.`);
  try {
    const json: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not an object');
    return json as Record<string, unknown>;
  } catch (err) {
    throw new UpdateError('UPDATE_METADATA_INVALID', `${what} is not TUF metadata JSON.`, { cause: err });
  }
}

/** A root that is a TUF root signed by its own threshold (TUF 5.2: the trust anchor). */
export function loadRoot(bytes: Uint8Array, what = 'the trusted root'): Metadata<Root> {
  let root: Metadata<Root>;
  try {
    root = Metadata.fromJSON(MetadataKind.Root, parseMetadataJson(bytes, what) as never);
  } catch (err) {
    if (err instanceof UpdateError) throw new UpdateError('UPDATE_ROOT_INVALID', err.message, { cause: err });
    throw new UpdateError('UPDATE_ROOT_INVALID', `${what} is not a TUF root (${err instanceof Error ? err.message : String(err)}).`, {
      cause: err,
    });
  }
  try {
    root.verifyDelegate(MetadataKind.Root, root);
  } catch (err) {
    throw new UpdateError('UPDATE_ROOT_INVALID', `${what} is not signed by its own root keys up to their threshold.`, { cause: err });
  }
  return root;
}

/** Targets metadata signed by `root`'s targets keys up to their threshold (TUF 5.6.3). */
export function loadTargets(root: Metadata<Root>, bytes: Uint8Array, what = 'targets metadata'): Metadata<Targets> {
  let targets: Metadata<Targets>;
  try {
    targets = Metadata.fromJSON(MetadataKind.Targets, parseMetadataJson(bytes, what) as never);
  } catch (err) {
    throw new UpdateError('UPDATE_METADATA_INVALID', `${what} is not TUF targets metadata.`, { cause: err });
  }
  try {
    root.verifyDelegate(MetadataKind.Targets, targets);
  } catch (err) {
    throw new UpdateError(
      'UPDATE_SIGNATURE_INVALID',
      `${what} is not signed by the targets keys of the trusted root up to their threshold.`,
      {
        cause: err,
      },
    );
  }
  return targets;
}

/** TUF 5.7.3: the file's length and hashes are those of its target metadata. */
export async function verifyTargetFile(target: TargetFile, path: string): Promise<void> {
  try {
    await target.verify(createReadStream(path));
  } catch (err) {
    throw new UpdateError(
      'UPDATE_TARGET_MISMATCH',
      `${path} does not have the length and hash the signed metadata gives for ${target.path}.`,
      {
        cause: err,
      },
    );
  }
}
