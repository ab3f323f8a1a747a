import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MAX_SEAL_PLAINTEXT, SEAL_OVERHEAD } from '@sightline/core';
import type { z } from 'zod';
import { AgentError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { ensurePrivateDir } from './data-dir.js';
import { Sealer } from './sealer.js';

const NAME = /^[a-z][a-z0-9-]{0,63}$/;
const SUFFIX = '.sealed';

/**
 * Small records (identity, state, status), each one sealed file
 * `<dir>/<name>.sealed` written atomically. Larger objects (packages, models)
 * will use core's stream encryption beside it.
 */
export class EncryptedStore {
  private readonly sealer: Sealer;

  constructor(
    private readonly dir: string,
    rootKey: Uint8Array,
  ) {
    this.sealer = new Sealer(rootKey, 'store');
  }

  private file(name: string): string {
    if (!NAME.test(name)) throw new AgentError('USAGE', `"${name}" is not a store record name.`);
    return join(this.dir, `${name}${SUFFIX}`);
  }

  async read(name: string): Promise<Buffer | undefined> {
    const file = this.file(name);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (size > MAX_SEAL_PLAINTEXT + SEAL_OVERHEAD)
      throw new AgentError('STORE_CORRUPT', `${file} is larger than any record the agent writes.`);
    return this.sealer.open(name, await readFile(file));
  }

  async write(name: string, data: Uint8Array): Promise<void> {
    await ensurePrivateDir(this.dir);
    await writeFileAtomic(this.file(name), this.sealer.seal(name, data));
  }

  async readJson<T>(name: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const bytes = await this.read(name);
    if (bytes === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new AgentError('STORE_CORRUPT', `The record "${name}" is not JSON.`, { cause: err });
    } finally {
      bytes.fill(0);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new AgentError(
        'STORE_CORRUPT',
        `The record "${name}" does not match its schema (${parsed.error.issues[0]?.message ?? 'invalid'}).`,
      );
    return parsed.data;
  }

  async writeJson(name: string, value: unknown): Promise<void> {
    const bytes = Buffer.from(JSON.stringify(value), 'utf8');
    try {
      await this.write(name, bytes);
    } finally {
      bytes.fill(0);
    }
  }

  async remove(name: string): Promise<void> {
    await rm(this.file(name), { force: true });
  }

  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith(SUFFIX)).map((f) => f.slice(0, -SUFFIX.length));
    } catch {
      return [];
    }
  }
}
