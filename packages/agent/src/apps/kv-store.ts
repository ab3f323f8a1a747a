import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SdkError } from '@sightline/sdk';
import { writeFileAtomic } from '../storage/atomic.js';
import { Sealer } from '../storage/sealer.js';

const record = z.record(z.string().max(256), z.string());

/**
 * An app node's key-value storage (`ctx.storage`), kept by the agent in one
 * sealed file (seed point 12) so the app process never holds a key; the
 * total size is capped by the descriptor's `diskMiB`.
 */
export class AppKvStore {
  private constructor(
    private readonly file: string,
    private readonly name: string,
    private readonly sealer: Sealer,
    private readonly quotaChars: number,
    private readonly data: Map<string, string>,
  ) {}

  static async open(file: string, name: string, key: Uint8Array, quotaChars: number): Promise<AppKvStore> {
    const sealer = new Sealer(key, 'app-kv');
    let data = new Map<string, string>();
    try {
      const plain = sealer.open(name, await readFile(file));
      data = new Map(Object.entries(record.parse(JSON.parse(plain.toString('utf8')))));
      plain.fill(0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new AppKvStore(file, name, sealer, quotaChars, data);
  }

  get(key: string): Promise<string | null> {
    return Promise.resolve(this.data.get(key) ?? null);
  }

  async set(key: string, value: string): Promise<void> {
    let total = key.length + value.length;
    for (const [k, v] of this.data) if (k !== key) total += k.length + v.length;
    if (total > this.quotaChars) throw new SdkError('STORAGE_QUOTA_EXCEEDED', 'The app storage quota (descriptor diskMiB) is full.');
    this.data.set(key, value);
    await this.save();
  }

  async delete(key: string): Promise<void> {
    if (this.data.delete(key)) await this.save();
  }

  private async save(): Promise<void> {
    const plain = Buffer.from(JSON.stringify(Object.fromEntries(this.data)), 'utf8');
    try {
      await writeFileAtomic(this.file, this.sealer.seal(this.name, plain));
    } finally {
      plain.fill(0);
    }
  }
}
