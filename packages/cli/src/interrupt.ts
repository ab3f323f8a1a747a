/**
 * Runs `work` with an AbortSignal that Ctrl-C (SIGINT) fires, so that a
 * transfer or a follow can stop cleanly (close the connection, remove a
 * partial file) instead of the process dying mid-way. The handler is removed
 * when `work` settles, so a second Ctrl-C after that ends the process as usual.
 *
 * @example
 * ```ts
 * await withInterrupt((signal) => client.request('GET', path, { signal }));
 * ```
 */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}
