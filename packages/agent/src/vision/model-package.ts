import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { VisionError } from './errors.js';

/** Descriptor file of a model package. */
export const MODEL_DESCRIPTOR_FILE = 'model.json';
/** Largest model file the agent loads. */
export const MAX_MODEL_BYTES = 512 * 1024 * 1024;
const MAX_DESCRIPTOR_BYTES = 64 * 1024;

const dim = z.number().int().min(1).max(65536);

/**
 * A model package descriptor (`model.json`): the ONNX file, its hash, and
 * what it takes and gives. The app reads the input part (shape, layout,
 * range) to build its tensors; the runner checks it against the model.
 */
export const modelDescriptorSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/),
    description: z.string().max(1000).optional(),
    license: z.string().max(64).optional(),
    file: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,128}\.onnx$/, 'a file name ending in .onnx, at the package root')
      .refine((f) => f !== '.onnx' && !f.startsWith('..'), 'a file name'),
    /** SHA-256 of the file, hex; checked before loading. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    input: z
      .object({
        name: z.string().min(1).max(128),
        shape: z.array(dim).min(1).max(8),
        layout: z.enum(['NHWC', 'NCHW']),
        color: z.enum(['RGB', 'BGR']).default('RGB'),
        /** Values pixel 0 and pixel 255 map to. */
        range: z.tuple([z.number().finite(), z.number().finite()]).default([0, 1]),
      })
      .strict(),
    outputs: z.array(z.string().min(1).max(128)).min(1).max(64),
  })
  .strict();

export type ModelDescriptor = z.output<typeof modelDescriptorSchema>;

/** A model package found on disk: its folder, descriptor and model file. */
export interface ModelPackage {
  readonly dir: string;
  readonly descriptor: ModelDescriptor;
  /** Absolute path of the ONNX file, inside `dir`. */
  readonly modelPath: string;
}

/**
 * What apps are told about a model (`ctx.models.<name>.input/outputs`); the
 * same shape as the SDK's `ModelSpec`.
 */
export interface ModelIoSpec {
  readonly input: {
    readonly name: string;
    readonly shape: readonly number[];
    readonly layout: 'NHWC' | 'NCHW';
    readonly color: 'RGB' | 'BGR';
    readonly range: readonly [number, number];
  };
  readonly outputs: readonly string[];
}

export function ioSpec(d: ModelDescriptor): ModelIoSpec {
  return { input: { ...d.input, shape: [...d.input.shape] }, outputs: [...d.outputs] };
}

/** Number of floats one input tensor holds. */
export function inputLength(d: Pick<ModelDescriptor, 'input'>): number {
  return d.input.shape.reduce((a, b) => a * b, 1);
}

export function parseModelDescriptor(value: unknown): ModelDescriptor {
  const parsed = modelDescriptorSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
    throw new VisionError('MODEL_PACKAGE_INVALID', `The model descriptor is invalid at ${where}: ${issue?.message ?? 'unknown'}.`, {
      details: { path: where },
    });
  }
  return parsed.data;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Reads and checks a model package folder: descriptor schema, the model file
 * inside the folder, its size cap and its SHA-256 (fail closed: a mismatch
 * throws MODEL_HASH_MISMATCH and nothing is loaded).
 *
 * @example
 * ```ts
 * const pkg = await loadModelPackage('/var/lib/sightline/models/blazeface-back-256');
 * const client = await ModelRunnerClient.start({ pkg });
 * ```
 */
export async function loadModelPackage(dir: string): Promise<ModelPackage> {
  const root = resolve(dir);
  const descriptorPath = join(root, MODEL_DESCRIPTOR_FILE);
  const info = await stat(descriptorPath).catch((e: unknown) => {
    throw new VisionError('MODEL_PACKAGE_INVALID', `No ${MODEL_DESCRIPTOR_FILE} in ${root}.`, { cause: e });
  });
  if (info.size > MAX_DESCRIPTOR_BYTES)
    throw new VisionError('MODEL_PACKAGE_INVALID', `${MODEL_DESCRIPTOR_FILE} is larger than ${MAX_DESCRIPTOR_BYTES} bytes.`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(descriptorPath, 'utf8'));
  } catch (e) {
    throw new VisionError('MODEL_PACKAGE_INVALID', `${MODEL_DESCRIPTOR_FILE} is not JSON.`, { cause: e });
  }
  const descriptor = parseModelDescriptor(raw);
  const modelPath = join(root, descriptor.file);
  const rel = relative(root, modelPath);
  if (rel.startsWith('..') || isAbsolute(rel))
    throw new VisionError('MODEL_PACKAGE_INVALID', 'The model file must lie inside the package.');
  const m = await stat(modelPath).catch((e: unknown) => {
    throw new VisionError('MODEL_PACKAGE_INVALID', `The model file ${descriptor.file} is missing.`, { cause: e });
  });
  if (!m.isFile() || m.size > MAX_MODEL_BYTES)
    throw new VisionError('MODEL_PACKAGE_INVALID', `The model file must be a file of at most ${MAX_MODEL_BYTES} bytes.`);
  // Integrity: the hash in the (signed) descriptor must match the bytes we are about to load.
  const actual = await sha256File(modelPath);
  if (actual !== descriptor.sha256) {
    throw new VisionError('MODEL_HASH_MISMATCH', `The model file's SHA-256 does not match ${MODEL_DESCRIPTOR_FILE}; refusing to load it.`, {
      details: { expected: descriptor.sha256, actual },
    });
  }
  return { dir: root, descriptor, modelPath };
}
