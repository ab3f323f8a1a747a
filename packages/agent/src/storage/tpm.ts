import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { AgentError } from '../errors.js';
import { processRunner, type CommandRunner } from './command.js';

/** Persistent handles the agent uses, in the owner range (TCG "Registry of Reserved TPM 2.0 Handles": 0x81000000–0x817FFFFF). */
const HANDLE_BASE = 0x81510000;
const HANDLE_SPAN = 0x100;
const HANDLE_RE = /^0x81[0-9a-f]{6}$/;

/**
 * The root key sealed by a TPM 2.0 through tpm2-tools (Debian `tpm2-tools`).
 * The sealing object is made persistent (`tpm2_evictcontrol`) and its
 * wrapped blobs are deleted, so the key exists only inside the TPM and
 * evicting the handle destroys it (crypto-erase, seed point 14).
 *
 * The TCTI comes from the environment: `TPM2TOOLS_TCTI` (e.g.
 * `swtpm:host=127.0.0.1,port=2321` for swtpm) or the tools' default
 * (`/dev/tpmrm0`, the kernel resource manager).
 */
export class Tpm {
  constructor(
    private readonly runner: CommandRunner = processRunner,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  private async tool(name: string, args: readonly string[], input?: Uint8Array): Promise<Buffer> {
    const r = await this.runner.run(name, args, { env: this.env, timeoutMs: 30_000, ...(input === undefined ? {} : { input }) });
    if (r.code === 127) throw new AgentError('TPM_UNAVAILABLE', `${name} is not installed (Debian package tpm2-tools).`);
    if (r.code !== 0) {
      const detail =
        r.stderr
          .split('\n')
          .filter((l) => l.startsWith('ERROR'))
          .slice(-2)
          .join(' ') || r.stderr.slice(-300);
      throw new AgentError('TPM_FAILED', `${name} failed: ${detail.trim()}`, { details: { tool: name, exitCode: r.code } });
    }
    return r.stdout;
  }

  /** Without a kernel resource manager (swtpm over TCP) transient objects stay loaded; flush them after each step. */
  private async flush(): Promise<void> {
    await this.tool('tpm2_flushcontext', ['-t']).catch(() => undefined);
  }

  /** True when tpm2-tools are installed and a TPM answers. */
  async available(): Promise<boolean> {
    if (this.env.TPM2TOOLS_TCTI === undefined && !existsSync('/dev/tpmrm0') && !existsSync('/dev/tpm0')) return false;
    try {
      await this.tool('tpm2_getcap', ['properties-fixed']);
      return true;
    } catch {
      return false;
    }
  }

  async persistentHandles(): Promise<string[]> {
    const out = (await this.tool('tpm2_getcap', ['handles-persistent'])).toString('utf8');
    return [...out.matchAll(/0x[0-9a-fA-F]{8}/g)].map((m) => m[0].toLowerCase());
  }

  /** Seals `secret` (≤ 128 bytes) under the owner hierarchy and returns the persistent handle that holds it. */
  async seal(secret: Uint8Array): Promise<string> {
    const used = new Set(await this.persistentHandles());
    let handle: string | undefined;
    for (let i = 1; i < HANDLE_SPAN && handle === undefined; i++) {
      const h = `0x${(HANDLE_BASE + i).toString(16)}`;
      if (!used.has(h)) handle = h;
    }
    if (handle === undefined) throw new AgentError('TPM_FAILED', 'No free persistent TPM handle in the agent range.');
    const dir = await mkdtemp(join(tmpdir(), 'sightline-tpm-'));
    try {
      const primary = join(dir, 'primary.ctx');
      const sealed = join(dir, 'seal.ctx');
      await this.tool('tpm2_createprimary', ['-Q', '-C', 'o', '-g', 'sha256', '-G', 'ecc', '-c', primary]);
      await this.flush();
      // A sealed data object (TPM 2.0 Part 1, 27.2: keyedHash with no sign/decrypt), created and loaded at once,
      // so its private blob is never written to disk.
      await this.tool('tpm2_create', ['-Q', '-C', primary, '-i', '-', '-c', sealed], secret);
      await this.flush();
      await this.tool('tpm2_evictcontrol', ['-Q', '-C', 'o', '-c', sealed, handle]);
      await this.flush();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return handle;
  }

  async unseal(handle: string): Promise<Buffer> {
    if (!HANDLE_RE.test(handle)) throw new AgentError('ROOT_KEY_INVALID', `"${handle}" is not a persistent TPM handle.`);
    try {
      return await this.tool('tpm2_unseal', ['-c', handle]);
    } finally {
      await this.flush();
    }
  }

  /** Removes the persistent sealing object: the key it held is gone for good. */
  async evict(handle: string): Promise<void> {
    if (!HANDLE_RE.test(handle)) throw new AgentError('ROOT_KEY_INVALID', `"${handle}" is not a persistent TPM handle.`);
    await this.tool('tpm2_evictcontrol', ['-Q', '-C', 'o', '-c', handle]);
    await this.flush();
  }
}
