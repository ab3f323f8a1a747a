/**
 * Messages between the agent (ModelRunnerClient) and a model runner process,
 * over Node IPC with `serialization: 'advanced'` (tensors cross as bytes).
 */
export type RunnerRequest =
  | {
      readonly t: 'load';
      readonly modelPath: string;
      readonly input: { readonly name: string; readonly shape: readonly number[]; readonly range?: readonly [number, number] };
      readonly outputs: readonly string[];
      readonly threads: number;
    }
  | { readonly t: 'run'; readonly id: number; readonly input: Float32Array }
  /** Sent with a socket handle: one app's direct channel (binary framing, @sightline/sdk/wire). */
  | { readonly t: 'attach'; readonly id: number; readonly app: string };

export type RunnerReply =
  | { readonly t: 'ready'; readonly inputNames: readonly string[]; readonly outputNames: readonly string[]; readonly loadMs: number }
  | { readonly t: 'result'; readonly id: number; readonly outputs: Readonly<Record<string, Float32Array>>; readonly ms: number }
  | { readonly t: 'error'; readonly id?: number; readonly code: string; readonly message: string }
  /**
   * Direct-channel activity, for the client's watchdog and counters: `attached` once the runner
   * reads an app's socket, `run` when an app's
   * request starts at the model, `done` when it was answered (`ok` false: an error reply),
   * `drop` when it was refused as MODEL_BUSY, `refused` when the app broke the framing
   * (`detail` says how; its channel was closed).
   */
  | {
      readonly t: 'direct';
      readonly app: string;
      readonly event: 'attached' | 'run' | 'done' | 'drop' | 'refused';
      /** `attached`: the attach request's id. */
      readonly id?: number;
      readonly ms?: number;
      readonly ok?: boolean;
      readonly detail?: string;
    };
