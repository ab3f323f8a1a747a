/**
 * Model runner process: one per model package, owned by the agent (started
 * by ModelRunnerClient). It alone loads onnxruntime-node, a native addon, so
 * app processes can run with addons disabled. One intra-op thread: several
 * runners (one per model) share the appliance's cores predictably.
 *
 * Protocol: see protocol.ts. The runner answers one request at a time;
 * queueing and dropping are the client's job (onnxruntime-node's run() blocks
 * this thread while it computes, so a request that arrives meanwhile waits in
 * the pipe, where the runner could not see it to drop it).
 */
import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { RunnerReply, RunnerRequest } from './protocol.js';

type Ort = typeof OrtModule;

let ort: Ort | undefined;
let session: InferenceSession | undefined;
let inputName = '';
let inputShape: readonly number[] = [];
let inputSize = 0;
let outputs: readonly string[] = [];

function reply(m: RunnerReply): void {
  process.send?.(m);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

async function load(m: Extract<RunnerRequest, { t: 'load' }>): Promise<void> {
  const t0 = performance.now();
  ort = await import('onnxruntime-node');
  session = await ort.InferenceSession.create(m.modelPath, {
    intraOpNumThreads: Math.max(1, Math.min(16, Math.floor(m.threads))),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3, // errors only: the BlazeFace export warns about unused initialisers on every load
  });
  if (!session.inputNames.includes(m.input.name)) {
    throw Object.assign(new Error(`the model has no input "${m.input.name}" (it has ${session.inputNames.join(', ')})`), {
      code: 'MODEL_LOAD_FAILED',
    });
  }
  const missing = m.outputs.filter((o) => !session!.outputNames.includes(o));
  if (missing.length > 0) {
    throw Object.assign(new Error(`the model has no output ${missing.join(', ')} (it has ${session.outputNames.join(', ')})`), {
      code: 'MODEL_LOAD_FAILED',
    });
  }
  // Fixed dimensions in the model must agree with the descriptor's shape.
  const meta = session.inputMetadata.find((x) => x.name === m.input.name);
  if (meta !== undefined && meta.isTensor) {
    const declared = meta.shape;
    const agrees =
      declared.length === m.input.shape.length && declared.every((d, i) => typeof d !== 'number' || d <= 0 || d === m.input.shape[i]);
    if (!agrees) {
      throw Object.assign(
        new Error(`the model's input shape [${declared.join(',')}] disagrees with the descriptor's [${m.input.shape.join(',')}]`),
        { code: 'MODEL_LOAD_FAILED' },
      );
    }
  }
  inputName = m.input.name;
  inputShape = [...m.input.shape];
  inputSize = inputShape.reduce((a, b) => a * b, 1);
  outputs = [...m.outputs];
  reply({ t: 'ready', inputNames: session.inputNames, outputNames: session.outputNames, loadMs: performance.now() - t0 });
}

async function run(m: Extract<RunnerRequest, { t: 'run' }>): Promise<void> {
  if (ort === undefined || session === undefined)
    return reply({ t: 'error', id: m.id, code: 'MODEL_UNAVAILABLE', message: 'The model is not loaded.' });
  if (!(m.input instanceof Float32Array) || m.input.length !== inputSize) {
    return reply({
      t: 'error',
      id: m.id,
      code: 'MODEL_INPUT_INVALID',
      message: `The input must be a Float32Array of ${inputSize} values ([${inputShape.join(',')}]).`,
    });
  }
  const t0 = performance.now();
  const feeds: Record<string, Tensor> = { [inputName]: new ort.Tensor('float32', m.input, [...inputShape]) };
  const result = await session.run(feeds, [...outputs]);
  const out: Record<string, Float32Array> = {};
  for (const name of outputs) {
    const t = result[name];
    if (t === undefined || !(t.data instanceof Float32Array)) {
      return reply({ t: 'error', id: m.id, code: 'MODEL_FAILED', message: `The model gave no float32 output "${name}".` });
    }
    out[name] = t.data;
  }
  reply({ t: 'result', id: m.id, outputs: out, ms: performance.now() - t0 });
}

async function handle(raw: unknown): Promise<void> {
  if (!isRecord(raw)) return;
  const m = raw as RunnerRequest;
  try {
    if (m.t === 'load') await load(m);
    else if (m.t === 'run') await run(m);
  } catch (e) {
    const code =
      isRecord(e) && typeof e.code === 'string' && e.code.startsWith('MODEL_')
        ? e.code
        : m.t === 'load'
          ? 'MODEL_LOAD_FAILED'
          : 'MODEL_FAILED';
    const message = e instanceof Error ? e.message : String(e);
    reply(m.t === 'run' ? { t: 'error', id: m.id, code, message } : { t: 'error', code, message });
  }
}

if (typeof process.send !== 'function') {
  console.error('model-runner: started without an IPC channel; the agent starts this process (ModelRunnerClient).');
  process.exit(2);
}
// One message at a time, in order: the next starts when the previous has answered.
let chain: Promise<void> = Promise.resolve();
process.on('message', (m: unknown) => {
  chain = chain.then(() => handle(m));
});
process.on('disconnect', () => process.exit(0));
