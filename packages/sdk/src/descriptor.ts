import { z } from 'zod';
import { SdkError } from './errors.js';

/** Names of parameters, inputs, outputs and models: what an app writes as `ctx.inputs.<name>`. */
const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const name = z.string().regex(NAME, 'lower-case letters, digits and _; starts with a letter; at most 64');

/** A path inside the package: relative, forward slashes, no `..`. */
const packagePath = z
  .string()
  .min(1)
  .max(256)
  .refine((p) => !p.startsWith('/') && !p.includes('\\') && !p.split('/').includes('..'), 'a relative path inside the package');

const numberParameter = z
  .object({
    type: z.literal('number'),
    default: z.number().finite(),
    min: z.number().finite().optional(),
    max: z.number().finite().optional(),
    overridable: z.boolean().default(false),
    description: z.string().max(500).optional(),
  })
  .strict()
  .refine((p) => (p.min === undefined || p.default >= p.min) && (p.max === undefined || p.default <= p.max), 'default outside min..max');

const stringParameter = z
  .object({
    type: z.literal('string'),
    default: z.string().max(4096),
    choices: z.array(z.string().max(4096)).min(1).max(64).optional(),
    overridable: z.boolean().default(false),
    description: z.string().max(500).optional(),
  })
  .strict()
  .refine((p) => p.choices === undefined || p.choices.includes(p.default), 'default is not one of the choices');

const booleanParameter = z
  .object({
    type: z.literal('boolean'),
    default: z.boolean(),
    overridable: z.boolean().default(false),
    description: z.string().max(500).optional(),
  })
  .strict();

const parameterSpec = z.discriminatedUnion('type', [numberParameter, stringParameter, booleanParameter]);

const videoInput = z
  .object({
    type: z.literal('video'),
    /** Size the agent scales camera frames to (in ffmpeg) before the app sees them; the camera's own size when absent. */
    width: z.number().int().min(16).max(7680).optional(),
    height: z.number().int().min(16).max(4320).optional(),
    /** Highest frame rate the app wants; the agent drops the rest at ingest. */
    fps: z.number().positive().max(120).optional(),
    description: z.string().max(500).optional(),
  })
  .strict();

const videoOutput = z.object({ type: z.literal('video'), description: z.string().max(500).optional() }).strict();

const modelRef = z
  .object({
    /** Name of the model package the app manifest binds to this node. */
    package: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    description: z.string().max(500).optional(),
  })
  .strict();

/**
 * The code package descriptor (`descriptor.json` at the package root), as the
 * agent and `sightline package build` read it. Unknown keys are refused so a
 * typo (`memoryMib`) is not silently ignored.
 *
 * @example
 * ```ts
 * const r = appDescriptorSchema.safeParse(JSON.parse(text));
 * if (!r.success) console.error(r.error.issues);
 * ```
 */
export const appDescriptorSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a semantic version such as 1.2.0'),
    description: z.string().max(1000).optional(),
    /** Module whose default export is the app (`defineApp`); bundled by `sightline package build`. */
    entry: packagePath,
    resources: z
      .object({
        /** Memory limit: the cgroup limit, and three quarters of it as the V8 heap limit. */
        memoryMiB: z.number().int().min(32).max(65536),
        /** CPU, in cores (0.5 = half a core): the cgroup CPU quota. */
        cpuShare: z.number().positive().max(256),
        /** Size cap of the app's storage folder. */
        diskMiB: z.number().int().min(0).max(1_048_576),
      })
      .strict(),
    network: z.object({ outbound: z.boolean() }).strict().optional(),
    parameters: z.record(name, parameterSpec).default({}),
    inputs: z.record(name, videoInput),
    outputs: z.record(name, videoOutput),
    models: z.record(name, modelRef).default({}),
  })
  .strict();

/**
 * A validated code package descriptor.
 *
 * @example
 * ```ts
 * const d: AppDescriptor = parseDescriptor(json);
 * d.parameters.threshold?.default;
 * ```
 */
export type AppDescriptor = z.output<typeof appDescriptorSchema>;
/**
 * One parameter of a validated descriptor.
 *
 * @example
 * ```ts
 * const p: ParameterSpec = { type: 'number', default: 0.75, min: 0, max: 1, overridable: true };
 * ```
 */
export type ParameterSpec = z.output<typeof parameterSpec>;
/**
 * A parameter value: what `ctx.parameters.<name>` holds at run time.
 *
 * @example
 * ```ts
 * const overrides: Record<string, ParameterValue> = { threshold: 0.8, blur: true };
 * ```
 */
export type ParameterValue = number | string | boolean;

/**
 * The structural type a descriptor must have for the SDK to type an app from
 * it. A JSON import (`import descriptor from '../descriptor.json' with { type: 'json' }`)
 * fits: TypeScript keeps the JSON's keys and the types of its values, so the
 * input names and the parameter types come straight from the file.
 *
 * @example
 * ```ts
 * import descriptor from '../descriptor.json' with { type: 'json' };
 * const d: DescriptorShape = descriptor; // compiles when the JSON has inputs and outputs
 * ```
 */
export interface DescriptorShape {
  readonly parameters?: { readonly [name: string]: { readonly default: ParameterValue } };
  readonly inputs: { readonly [name: string]: object };
  readonly outputs: { readonly [name: string]: object };
  readonly models?: { readonly [name: string]: object };
}

type Widen<V> = V extends number ? number : V extends string ? string : V extends boolean ? boolean : never;

/**
 * `ctx.parameters` of an app with descriptor `D`: one key per declared
 * parameter, typed by its default (a number default gives a number).
 *
 * @example
 * ```ts
 * type P = ParameterValues<{ inputs: {}; outputs: {}; parameters: { threshold: { default: 0.75 } } }>;
 * // P is { readonly threshold: number }
 * ```
 */
export type ParameterValues<D extends DescriptorShape> = D extends { readonly parameters: infer P }
  ? { readonly [K in keyof P]: P[K] extends { readonly default: infer V } ? Widen<V> : never }
  : Record<never, never>;

/**
 * The input names of descriptor `D`.
 *
 * @example
 * ```ts
 * type I = InputName<typeof descriptor>; // 'video_in'
 * ```
 */
export type InputName<D extends DescriptorShape> = keyof D['inputs'] & string;
/**
 * The output names of descriptor `D`.
 *
 * @example
 * ```ts
 * type O = OutputName<typeof descriptor>; // 'video_out'
 * ```
 */
export type OutputName<D extends DescriptorShape> = keyof D['outputs'] & string;
/**
 * The model names of descriptor `D`.
 *
 * @example
 * ```ts
 * type M = ModelName<typeof descriptor>; // 'face'
 * ```
 */
export type ModelName<D extends DescriptorShape> = D extends { readonly models: infer M } ? keyof M & string : never;

function faultPath(issue: { path: readonly PropertyKey[] }): string {
  return issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
}

/**
 * Checks a code package descriptor and returns it with defaults filled in.
 * Throws `SdkError('DESCRIPTOR_INVALID')` naming the first faulty key.
 *
 * @example
 * ```ts
 * const descriptor = parseDescriptor(JSON.parse(readFileSync('descriptor.json', 'utf8')));
 * descriptor.resources.memoryMiB; // 256
 * ```
 */
export function parseDescriptor(value: unknown): AppDescriptor {
  const parsed = appDescriptorSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? '(root)' : faultPath(issue);
    throw new SdkError(
      'DESCRIPTOR_INVALID',
      `The app descriptor is invalid at ${where}: ${issue?.message ?? 'unknown fault'}. Fix descriptor.json.`,
      {
        details: { path: where },
      },
    );
  }
  return parsed.data;
}

/**
 * Merges deploy-time overrides into the descriptor's defaults and checks them:
 * an unknown name, a parameter not marked `overridable`, a value of the wrong
 * type or outside `min..max`/`choices` throws `SdkError('PARAMETER_INVALID')`.
 *
 * @example
 * ```ts
 * resolveParameters(descriptor, { threshold: 0.8 }); // { threshold: 0.8, tile: false, ... }
 * resolveParameters(descriptor, { threshold: 'high' }); // throws PARAMETER_INVALID
 * ```
 */
export function resolveParameters(
  descriptor: AppDescriptor,
  overrides: Readonly<Record<string, unknown>>,
): Readonly<Record<string, ParameterValue>> {
  const out: Record<string, ParameterValue> = {};
  for (const [key, spec] of Object.entries(descriptor.parameters)) out[key] = spec.default;
  for (const [key, value] of Object.entries(overrides)) {
    const spec = descriptor.parameters[key];
    const fail = (why: string): never => {
      throw new SdkError('PARAMETER_INVALID', `Parameter "${key}" ${why}.`, { details: { parameter: key } });
    };
    if (spec === undefined) return fail('is not declared in the descriptor');
    if (!spec.overridable) fail('is not overridable');
    if (typeof value !== spec.type) fail(`must be a ${spec.type}`);
    if (spec.type === 'number') {
      const n = value as number;
      if (!Number.isFinite(n)) fail('must be a finite number');
      if (spec.min !== undefined && n < spec.min) fail(`must be at least ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) fail(`must be at most ${spec.max}`);
    }
    if (spec.type === 'string' && spec.choices !== undefined && !spec.choices.includes(value as string)) {
      fail(`must be one of ${spec.choices.join(', ')}`);
    }
    out[key] = value as ParameterValue;
  }
  return Object.freeze(out);
}
