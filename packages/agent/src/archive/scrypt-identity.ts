import { createDecipheriv, scrypt } from 'node:crypto';
import type { Identity, Stanza } from 'age-encryption';

/**
 * The age scrypt recipient (age spec, "The scrypt recipient type") with
 * Node's native scrypt: the JavaScript one in age-encryption takes ~3 s at
 * the default work factor on an appliance CPU, this one a fraction of that.
 * It also records whether the file had a passphrase stanza, so a wrong
 * passphrase can be told from a file made for another kind of recipient.
 */
export class NativeScryptIdentity implements Identity {
  /** Set once a scrypt stanza was seen and its body did not open. */
  sawScryptStanza = false;
  /** age spec: implementations SHOULD cap the work factor; typage caps at 2^20. */
  static readonly MAX_LOG_N = 20;

  constructor(private readonly passphrase: string) {}

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    for (const s of stanzas) {
      if (s.args[0] !== 'scrypt') continue;
      this.sawScryptStanza = true;
      // age spec: an scrypt stanza must be the only stanza, with exactly a salt and a work factor.
      if (stanzas.length !== 1) throw new Error('scrypt recipient is not the only one in the header');
      const [, saltB64, logNText] = s.args;
      if (s.args.length !== 3 || saltB64 === undefined || logNText === undefined) throw new Error('invalid scrypt stanza');
      if (!/^[A-Za-z0-9+/]{22}$/.test(saltB64) || !/^[1-9][0-9]?$/.test(logNText)) throw new Error('invalid scrypt stanza');
      const logN = Number(logNText);
      if (logN > NativeScryptIdentity.MAX_LOG_N) throw new Error('scrypt work factor is too high');
      if (s.body.length !== 32) throw new Error('invalid scrypt stanza');
      const salt = Buffer.concat([Buffer.from('age-encryption.org/v1/scrypt', 'latin1'), Buffer.from(saltB64, 'base64')]);
      const N = 2 ** logN;
      const key = await new Promise<Buffer>((resolve, reject) =>
        scrypt(this.passphrase, salt, 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 + 1024 * 1024 }, (err, k) =>
          err === null ? resolve(k) : reject(err),
        ),
      );
      try {
        const d = createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
        d.setAuthTag(s.body.subarray(16));
        const fileKey = d.update(s.body.subarray(0, 16));
        d.final();
        return new Uint8Array(fileKey);
      } catch {
        return null; // wrong passphrase (or a damaged stanza body: AEAD cannot tell them apart)
      } finally {
        key.fill(0);
      }
    }
    return null;
  }
}
