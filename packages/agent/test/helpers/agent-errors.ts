import assert from 'node:assert/strict';
import { AgentError } from '../../src/errors.js';

/** Asserts `p` rejects with an AgentError of `code`, and returns it for further checks. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<AgentError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return err instanceof AgentError && err.code === code;
  });
  return caught as AgentError;
}
