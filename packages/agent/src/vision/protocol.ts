/**
 * Messages between the agent (ModelRunnerClient) and a model runner process,
 * over Node IPC with `serialization: 'advanced'` (tensors cross as bytes).
 */
export type RunnerRequest =
  | {
      readonly t: 'load';
      readonly modelPath: string;
      readonly input: { readonly name: string; readonly shape: readonly number[] };
      readonly outputs: readonly string[];
      readonly threads: number;
    }
  | { readonly t: 'run'; readonly id: number; readonly input: Float32Array };

export type RunnerReply =
  | { readonly t: 'ready'; readonly inputNames: readonly string[]; readonly outputNames: readonly string[]; readonly loadMs: number }
  | { readonly t: 'result'; readonly id: number; readonly outputs: Readonly<Record<string, Float32Array>>; readonly ms: number }
  | { readonly t: 'error'; readonly id?: number; readonly code: string; readonly message: string };
