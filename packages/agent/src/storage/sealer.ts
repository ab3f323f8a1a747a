import { hkdfSync } from 'node:crypto';
import { EnvelopeError, open, seal } from '@sightline/core';
import { AgentError } from '../errors.js';

/**
 * Seals files under a key derived from the root key for one purpose (HKDF,
 * RFC 5869), with AES-256-GCM from core's `seal`. The AAD is the file's
 * logical name, so a sealed file renamed or copied over another fails to open.
 */
export class Sealer {
  private readonly key: Buffer;

  constructor(
    rootKey: Uint8Array,
    private readonly purpose: string,
  ) {
    this.key = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), `sightline-agent/${purpose}/v1`, 32));
  }

  private aad(name: string): Buffer {
    return Buffer.from(`sightline-agent/${this.purpose}/${name}`, 'utf8');
  }

  seal(name: string, plaintext: Uint8Array): Buffer {
    return seal(this.key, plaintext, this.aad(name));
  }

  open(name: string, sealed: Uint8Array): Buffer {
    try {
      return open(this.key, sealed, this.aad(name));
    } catch (err) {
      if (err instanceof EnvelopeError) {
        throw new AgentError(
          'STORE_CORRUPT',
          `The sealed file "${name}" does not open (${err.code}): it was changed, moved, or belongs to another root key.`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }
}
