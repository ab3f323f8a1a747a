import { runApp, type App } from './app.js';
import { IpcAppChannel } from './channel/ipc.js';
import type { DescriptorShape } from './descriptor.js';

/**
 * The main of an app process started by the agent: connects to the agent
 * over the inherited IPC channel, runs `app`, reports how it ended, and lets
 * the process exit (code 0 when `run` returned, 1 when it threw).
 * `sightline package build` bundles this call with the app's entry module;
 * app authors do not call it.
 *
 * @example
 * ```ts
 * // the generated bundle entry
 * import app from './src/app.ts';
 * import { runAppProcess } from '@sightline/sdk';
 * await runAppProcess(app);
 * ```
 */
export async function runAppProcess<D extends DescriptorShape>(app: App<D>): Promise<void> {
  const channel = new IpcAppChannel(process);
  try {
    await runApp(app, channel);
    process.exitCode = 0;
  } catch (e) {
    process.exitCode = 1;
    // stderr reaches the agent's app log as well; the stack helps the author.
    console.error(e);
  } finally {
    channel.close();
  }
}
