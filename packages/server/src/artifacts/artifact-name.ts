import { screenFreeText } from '@sightline/protocol';
import { SRN_NAME_MAX_LENGTH } from '../policy/srn.js';
import { ArtifactError } from './artifact-errors.js';

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const PACKAGE_BLOB_NAME = /^packages\/blobs\/[0-9a-f]{64}$/;
/** `GET …/artifacts/NAME/content` is the download route, so a name may not end in that segment. */
const RESERVED_LAST = 'content';

/**
 * Checks an artifact name against the SRN name rules (policy/srn.ts), since
 * the resource is `srn:sightline:<project>:artifact/<name>`: 1–256 chars,
 * `/`-separated segments of `A-Z a-z 0-9 . _ -`, no empty, `.` or `..`
 * segment (no path traversal into the backend, no ambiguous names). Screened
 * like every other name for personal data and secrets (seed point 6).
 */
export function assertArtifactName(name: string, field = 'name'): void {
  // Screen first: an e-mail address used as a name is reported as personal data (what to fix), as safeName does.
  // A package blob's name is its SHA-256 (content addressing, issue 6): a digest, not a secret, though it looks random.
  if (!PACKAGE_BLOB_NAME.test(name)) screenFreeText(field, name);
  if (name.length < 1 || name.length > SRN_NAME_MAX_LENGTH) {
    throw new ArtifactError('ARTIFACT_NAME_INVALID', `The artifact ${field} must be 1 to ${SRN_NAME_MAX_LENGTH} characters.`, {
      details: { field },
    });
  }
  const segments = name.split('/');
  if (!segments.every((s) => SEGMENT.test(s) && s !== '.' && s !== '..')) {
    throw new ArtifactError(
      'ARTIFACT_NAME_INVALID',
      `The artifact ${field} must be "/"-separated segments of A-Z a-z 0-9 . _ - (no empty, "." or ".." segment), e.g. models/blazeface/1.0.0.onnx.`,
      { details: { field } },
    );
  }
  if (segments.length > 1 && segments[segments.length - 1] === RESERVED_LAST) {
    throw new ArtifactError(
      'ARTIFACT_NAME_INVALID',
      `The last segment of a multi-segment artifact ${field} may not be "${RESERVED_LAST}" (it names the download route).`,
      {
        details: { field },
      },
    );
  }
}

/** A name prefix for listing: the same characters, may end in `/` or part of a segment; empty lists all. */
export function assertArtifactPrefix(prefix: string): void {
  if (prefix === '') return;
  if (prefix.length > SRN_NAME_MAX_LENGTH || !/^[A-Za-z0-9._/-]+$/.test(prefix)) {
    throw new ArtifactError('ARTIFACT_NAME_INVALID', 'The prefix may hold only A-Z a-z 0-9 . _ - and /.', { details: { field: 'prefix' } });
  }
}

export function artifactSrn(project: string, name: string): string {
  return `srn:sightline:${project}:artifact/${name}`;
}
