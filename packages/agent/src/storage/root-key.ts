import { randomBytes } from 'node:crypto';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { z } from 'zod';
import { AgentError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { layout } from './data-dir.js';
import type { Tpm } from './tpm.js';

export type RootKeyProtection = 'tpm' | 'key-file';
export type RootKeyMode = RootKeyProtection | 'auto';

const ROOT_KEY_BYTES = 32;

const rootKeyMeta = z.discriminatedUnion('protection', [
  z
    .object({ v: z.literal(1), protection: z.literal('tpm'), handle: z.string().regex(/^0x81[0-9a-f]{6}$/), createdAt: z.string() })
    .strict(),
  z.object({ v: z.literal(1), protection: z.literal('key-file'), createdAt: z.string() }).strict(),
]);
export type RootKeyMeta = z.infer<typeof rootKeyMeta>;

export const KEY_FILE_WARNING =
  'WARNING: no TPM 2.0 found: the device root key is kept in a key file (root.key, mode 0600). Anyone who can read ' +
  'the data folder (or the disk) can decrypt all agent state. Use an appliance with a TPM, or an encrypted volume (LUKS).';

export interface RootKey {
  key: Buffer;
  meta: RootKeyMeta;
}

/**
 * The device root key (seed point 12): 32 random bytes under which every file
 * the agent writes is sealed. Sealed by the TPM when one is present (or asked
 * for), else kept in `root.key` with a loud warning.
 */
export class RootKeyManager {
  private readonly paths;

  constructor(
    dataDir: string,
    private readonly tpm: Tpm,
  ) {
    this.paths = layout(dataDir);
  }

  async describe(): Promise<RootKeyMeta | undefined> {
    let text: string;
    try {
      text = await readFile(this.paths.rootKeyMeta, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (text.length > 4096)
      throw new AgentError('ROOT_KEY_INVALID', `${this.paths.rootKeyMeta} is too large to be a root key description.`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new AgentError('ROOT_KEY_INVALID', `${this.paths.rootKeyMeta} is not valid JSON.`, { cause: err });
    }
    const parsed = rootKeyMeta.safeParse(json);
    if (!parsed.success) throw new AgentError('ROOT_KEY_INVALID', `${this.paths.rootKeyMeta} does not describe a root key.`);
    return parsed.data;
  }

  /** Creates a new root key; refuses to replace one (destroy it first). */
  async create(mode: RootKeyMode, now: Date): Promise<RootKey> {
    if ((await this.describe()) !== undefined) throw new AgentError('ROOT_KEY_INVALID', 'A root key already exists in this data folder.');
    let protection: RootKeyProtection;
    if (mode === 'auto') protection = (await this.tpm.available()) ? 'tpm' : 'key-file';
    else if (mode === 'tpm' && !(await this.tpm.available())) {
      throw new AgentError(
        'TPM_UNAVAILABLE',
        'No TPM 2.0 answers (checked /dev/tpmrm0 and TPM2TOOLS_TCTI); use --root-key key-file or auto.',
      );
    } else protection = mode;

    const key = randomBytes(ROOT_KEY_BYTES);
    let meta: RootKeyMeta;
    if (protection === 'tpm') {
      const handle = await this.tpm.seal(key);
      meta = { v: 1, protection, handle, createdAt: now.toISOString() };
    } else {
      const fh = await open(this.paths.rootKeyFile, 'wx', 0o600);
      try {
        await fh.writeFile(key);
        await fh.sync();
      } finally {
        await fh.close();
      }
      meta = { v: 1, protection, createdAt: now.toISOString() };
    }
    await writeFileAtomic(this.paths.rootKeyMeta, Buffer.from(`${JSON.stringify(meta, null, 2)}\n`), 0o600);
    return { key, meta };
  }

  async load(): Promise<RootKey> {
    const meta = await this.describe();
    if (meta === undefined)
      throw new AgentError(
        'ROOT_KEY_MISSING',
        'This data folder has no root key; the agent is not registered (run sightline-agent register).',
      );
    let key: Buffer;
    if (meta.protection === 'tpm') {
      try {
        key = await this.tpm.unseal(meta.handle);
      } catch (err) {
        throw new AgentError(
          'TPM_UNAVAILABLE',
          `The TPM did not unseal the root key at ${meta.handle}; is this the appliance's own TPM, and is it reachable?`,
          { cause: err },
        );
      }
    } else {
      const st = await stat(this.paths.rootKeyFile).catch((err: unknown) => {
        throw new AgentError(
          'ROOT_KEY_MISSING',
          `${this.paths.rootKeyFile} is missing; the agent state cannot be decrypted (reset --full and provision again).`,
          { cause: err },
        );
      });
      // Fail closed: a key file others can read is a key others may have copied.
      if ((st.mode & 0o077) !== 0) {
        throw new AgentError(
          'ROOT_KEY_INVALID',
          `${this.paths.rootKeyFile} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it and check who copied it.`,
        );
      }
      key = await readFile(this.paths.rootKeyFile);
    }
    if (key.length !== ROOT_KEY_BYTES) throw new AgentError('ROOT_KEY_INVALID', 'The root key has the wrong length.');
    return { key, meta };
  }

  /**
   * Crypto-erase (seed point 14): the root key is destroyed before anything
   * else, so whatever is left on the disk, or was copied off it, cannot be
   * decrypted. TPM: evict the persistent sealing object. Key file: overwrite
   * in place, sync, unlink (flash may keep old blocks, hence the TPM).
   */
  async destroy(): Promise<{ destroyed: boolean; detail: string }> {
    let meta: RootKeyMeta | undefined;
    try {
      meta = await this.describe();
    } catch {
      meta = undefined;
    }
    let result = { destroyed: true, detail: 'no root key present' };
    if (meta?.protection === 'tpm') {
      try {
        await this.tpm.evict(meta.handle);
        result = { destroyed: true, detail: `TPM sealing object ${meta.handle} evicted` };
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        result = {
          destroyed: false,
          detail: `could not evict TPM object ${meta.handle} (${why}); run: tpm2_evictcontrol -C o -c ${meta.handle}`,
        };
      }
    }
    try {
      const fh = await open(this.paths.rootKeyFile, 'r+');
      try {
        const size = (await fh.stat()).size;
        await fh.write(randomBytes(Math.max(size, ROOT_KEY_BYTES)), 0, Math.max(size, ROOT_KEY_BYTES), 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rm(this.paths.rootKeyFile, { force: true });
      if (meta?.protection !== 'tpm') result = { destroyed: true, detail: 'root key file overwritten and deleted' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await rm(this.paths.rootKeyMeta, { force: true });
    return result;
  }
}
