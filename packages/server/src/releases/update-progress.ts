import type { deviceApi } from '@sightline/protocol';
import type { DeviceJobsTable } from '../storage/schema.js';

export interface JobProgress {
  stage?: deviceApi.UpdateStage;
  bytesDone?: number;
  bytesTotal?: number;
}

export interface JobHistoryEntry {
  stage: string;
  at: string;
  message?: string;
}

/**
 * The columns a device's job report changes on a multi-stage (update) job:
 * the stage and when it began (the stage timeout counts from there), bytes,
 * and the history, one entry per stage change and one for the outcome.
 * Pure: the device service writes what this returns.
 */
export function progressColumns(
  job: Pick<DeviceJobsTable, 'stage' | 'stage_started_at' | 'history' | 'bytes_done' | 'bytes_total'>,
  status: 'running' | 'succeeded' | 'failed',
  message: string | undefined,
  progress: JobProgress,
  now: number,
): Pick<DeviceJobsTable, 'stage' | 'stage_started_at' | 'history' | 'bytes_done' | 'bytes_total'> {
  const history = job.history === null ? [] : (JSON.parse(job.history) as JobHistoryEntry[]);
  const at = new Date(now).toISOString();
  let stage = job.stage;
  let started = job.stage_started_at;
  if (status === 'running' && progress.stage !== undefined && progress.stage !== job.stage) {
    stage = progress.stage;
    started = now;
    history.push({ stage, at, ...(message === undefined ? {} : { message }) });
  } else if (status !== 'running') {
    stage = status === 'succeeded' ? 'committed' : message?.startsWith('reverted') === true ? 'reverted' : 'failed';
    started = now;
    history.push({ stage, at, ...(message === undefined ? {} : { message }) });
  }
  return {
    stage,
    stage_started_at: started,
    // Bytes belong to the download: keep the last figures once the stage moves on.
    bytes_done: progress.bytesDone ?? job.bytes_done,
    bytes_total: progress.bytesTotal ?? job.bytes_total,
    history: JSON.stringify(history.slice(-50)),
  };
}
