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
import type { Socket } from 'node:net';
import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { WIRE_DTYPE_FLOAT32, WIRE_DTYPE_UINT8, WireReader, encodeError, encodeResult, type WireHeader } from '@sightline/sdk/wire';
import type { RunnerReply, RunnerRequest } from './protocol.js';

type Ort = typeof OrtModule;

let ort: Ort | undefined;
let session: InferenceSession | undefined;
let inputName = '';
let inputShape: readonly number[] = [];
let inputSize = 0;
let outputs: readonly string[] = [];
/** uint8 pixel → the model's input value (the descriptor's range: 0 → lo, 255 → hi). */
const lut = new Float32Array(256);

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
  const [lo, hi] = m.input.range ?? [0, 1];
  for (let i = 0; i < 256; i++) lut[i] = lo + ((hi - lo) * i) / 255;
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
  const list = await infer(m.input);
  const out: Record<string, Float32Array> = {};
  outputs.forEach((name, i) => (out[name] = list[i]!));
  reply({ t: 'result', id: m.id, outputs: out, ms: performance.now() - t0 });
}

/** One inference; the outputs in the descriptor's order. Throws MODEL_FAILED when one is missing. */
async function infer(input: Float32Array): Promise<Float32Array[]> {
  const feeds: Record<string, Tensor> = { [inputName]: new ort!.Tensor('float32', input, [...inputShape]) };
  const result = await session!.run(feeds, [...outputs]);
  return outputs.map((name) => {
    const t = result[name];
    if (t === undefined || !(t.data instanceof Float32Array))
      throw Object.assign(new Error(`The model gave no float32 output "${name}".`), { code: 'MODEL_FAILED' });
    return t.data;
  });
}

/**
 * One app's direct channel (a socket the agent handed over): binary requests
 * (see @sightline/sdk/wire), untrusted. The framing is checked before any
 * allocation (a body over the tensor's size is refused and the channel
 * closed); a tensor of the wrong type or length gets MODEL_INPUT_INVALID; a
 * second request while the app's first is waiting or running gets
 * MODEL_BUSY (dropped, never queued). Requests of all apps take turns in
 * arrival order with the agent's own (IPC) requests.
 */
class DirectChannel {
  private busy = false;
  private closed = false;
  private readonly reader: WireReader;

  constructor(
    readonly app: string,
    private readonly socket: Socket,
  ) {
    // The largest legal body: the tensor as float32.
    this.reader = new WireReader(
      Math.max(1, inputSize) * 4,
      (h, body) => this.request(h, body),
      (why) => {
        reply({ t: 'direct', app, event: 'refused', detail: why });
        this.send(encodeError(0, 'PROTOCOL_ERROR', `The model channel was closed: ${why}.`));
        this.close();
      },
    );
    socket.on('data', (c: Buffer) => this.reader.push(c));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  private send(parts: Buffer[]): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.cork();
    for (const p of parts) this.socket.write(p);
    this.socket.uncork();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private request(h: WireHeader, body: Uint8Array): void {
    if (this.busy) {
      reply({ t: 'direct', app: this.app, event: 'drop' });
      this.send(encodeError(h.id, 'MODEL_BUSY', "The model is still working on this app's previous request; this one was dropped."));
      return;
    }
    let input: Float32Array;
    if (h.kind === WIRE_DTYPE_UINT8 && body.length === inputSize) {
      input = new Float32Array(inputSize);
      for (let i = 0; i < inputSize; i++) input[i] = lut[body[i]!]!;
    } else if (h.kind === WIRE_DTYPE_FLOAT32 && body.length === inputSize * 4) {
      input = new Float32Array(body.buffer, body.byteOffset, inputSize);
    } else {
      this.send(
        encodeError(
          h.id,
          'MODEL_INPUT_INVALID',
          `The input must be ${inputSize} uint8 pixels or ${inputSize} float32 values ([${inputShape.join(',')}]).`,
        ),
      );
      return;
    }
    this.busy = true;
    chain = chain.then(async () => {
      if (this.closed) {
        this.busy = false;
        return;
      }
      reply({ t: 'direct', app: this.app, event: 'run' });
      const t0 = performance.now();
      try {
        const out = await infer(input);
        this.busy = false;
        this.send(encodeResult(h.id, out));
        reply({ t: 'direct', app: this.app, event: 'done', ok: true, ms: performance.now() - t0 });
      } catch (e) {
        this.busy = false;
        const code = isRecord(e) && typeof e.code === 'string' && e.code.startsWith('MODEL_') ? e.code : 'MODEL_FAILED';
        this.send(encodeError(h.id, code, e instanceof Error ? e.message : String(e)));
        reply({ t: 'direct', app: this.app, event: 'done', ok: false, ms: performance.now() - t0 });
      }
    });
  }
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
process.on('message', (m: unknown, sent?: unknown) => {
  if (isRecord(m) && m.t === 'attach') {
    const socket = sent as Socket | undefined;
    const app = typeof m.app === 'string' ? m.app.slice(0, 200) : '?';
    if (socket !== undefined && typeof socket.write === 'function' && session !== undefined) {
      new DirectChannel(app, socket);
      reply({ t: 'direct', app, event: 'attached', id: typeof m.id === 'number' ? m.id : 0 });
    } else socket?.destroy?.();
    return;
  }
  chain = chain.then(() => handle(m));
});
process.on('disconnect', () => process.exit(0));
