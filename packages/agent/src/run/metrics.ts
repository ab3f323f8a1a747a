import { statfs } from 'node:fs/promises';
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';

export interface HostMetrics {
  disk: { totalBytes: number; freeBytes: number };
  memory: { totalBytes: number; freeBytes: number };
  cpu: { load1: number; cores: number };
}

/** Disk (of the data folder's file system), memory and CPU for the heartbeat. */
export async function hostMetrics(dataDir: string): Promise<HostMetrics> {
  let disk = { totalBytes: 0, freeBytes: 0 };
  try {
    const s = await statfs(dataDir);
    disk = { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {
    // keep zeros: the heartbeat must not fail over a metric
  }
  return {
    disk,
    memory: { totalBytes: totalmem(), freeBytes: freemem() },
    cpu: { load1: Math.max(0, loadavg()[0] ?? 0), cores: Math.max(1, availableParallelism()) },
  };
}
