import { SightlineError } from '@sightline/core';
import { z } from 'zod';
import { packageName, packageVersion, parameterValue, type ModelDescriptor, type PackageKind, type ParameterValue } from './apps.js';

/**
 * The app manifest: which cameras feed which code, which models and
 * parameters that code gets, and where its video goes (Panorama's
 * `graph.json`, typed). Deploy-time overrides pick the cameras and the values
 * of overridable parameters.
 *
 * Checking a manifest takes two steps: {@link appManifest} checks its shape
 * (no package registry needed, so the CLI can run it offline), and
 * {@link resolveManifest} checks it against the descriptors of the package
 * versions it names. Every fault is a {@link ManifestInvalidError} whose
 * `details.path` names the fault (`nodes[1].package`, `edges[2].to`,
 * `overrides.parameters.threshold`).
 */

/** Node names: lower-case letters, digits, `_` and `-`; no `.` (it separates a node from its port in edges). */
export const nodeName = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, _ and -; starts with a letter; at most 64');
/** An edge end: `node` or `node.port` (ports as the code descriptor names them: `video_in`, `face`, `threshold`). */
const edgeEnd = z.string().regex(/^[a-z][a-z0-9_-]{0,63}(\.[a-z][a-z0-9_]{0,63})?$/, 'a node name, or node.port');

export const MAX_MANIFEST_NODES = 128;
export const MAX_MANIFEST_EDGES = 256;
/** Bytes of manifest JSON the API accepts. */
export const MAX_MANIFEST_BYTES = 256 * 1024;

const description = z.string().max(500).optional();

const numberParameter = z
  .object({
    type: z.literal('number'),
    default: z.number().finite(),
    min: z.number().finite().optional(),
    max: z.number().finite().optional(),
    overridable: z.boolean().default(false),
    description,
  })
  .strict();
const stringParameter = z
  .object({
    type: z.literal('string'),
    default: z.string().max(4096),
    choices: z.array(z.string().max(4096)).min(1).max(64).optional(),
    overridable: z.boolean().default(false),
    description,
  })
  .strict();
const booleanParameter = z
  .object({ type: z.literal('boolean'), default: z.boolean(), overridable: z.boolean().default(false), description })
  .strict();
export const manifestParameter = z.discriminatedUnion('type', [numberParameter, stringParameter, booleanParameter]);
export type ManifestParameter = z.output<typeof manifestParameter>;

const cameraNode = z
  .object({
    name: nodeName,
    type: z.literal('camera'),
    /** The camera used when the overrides name none. */
    camera: z.string().min(1).max(64).optional(),
    description,
  })
  .strict();
const codeNode = z.object({ name: nodeName, type: z.literal('code'), package: packageName, version: packageVersion, description }).strict();
const modelNode = z.object({ name: nodeName, type: z.literal('model'), package: packageName, version: packageVersion, description }).strict();
const outputNode = z.object({ name: nodeName, type: z.literal('output'), description }).strict();
const parameterNode = z.object({ name: nodeName, type: z.literal('parameter'), parameter: manifestParameter, description }).strict();

export const manifestNode = z.discriminatedUnion('type', [cameraNode, codeNode, modelNode, outputNode, parameterNode]);
export type ManifestNode = z.output<typeof manifestNode>;

/** Producer → consumer. */
export const manifestEdge = z.object({ from: edgeEnd, to: edgeEnd }).strict();
export type ManifestEdge = z.output<typeof manifestEdge>;

export const appManifest = z
  .object({
    /** Editors' pointer to the JSON Schema; ignored. */
    $schema: z.string().max(512).optional(),
    /** The app's name; instances of it are listed under this name. */
    name: packageName,
    description,
    nodes: z.array(manifestNode).min(1).max(MAX_MANIFEST_NODES),
    edges: z.array(manifestEdge).max(MAX_MANIFEST_EDGES),
  })
  .strict();
export type AppManifest = z.output<typeof appManifest>;

/** Deploy-time choices: camera node → camera name, parameter node → value. */
export const manifestOverrides = z
  .object({
    cameras: z.record(nodeName, z.string().min(1).max(64)).optional(),
    parameters: z.record(nodeName, parameterValue).optional(),
  })
  .strict();
export type ManifestOverrides = z.output<typeof manifestOverrides>;

/** The JSON Schema of the manifest (served at `GET /api/v1/schemas/app-manifest.json`). */
export function appManifestJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(appManifest, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://sightline.dev/schemas/app-manifest.json',
    title: 'Sightline app manifest',
  };
}

export class ManifestInvalidError extends SightlineError<'MANIFEST_INVALID'> {
  readonly path: string;

  constructor(path: string, message: string) {
    super('MANIFEST_INVALID', `The app manifest is invalid at ${path}: ${message}`, { details: { path } });
    this.path = path;
  }
}

/** `['nodes', 1, 'package']` → `nodes[1].package`. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out === '' ? '' : '.'}${String(key)}`;
  return out === '' ? '(root)' : out;
}

function parseWithPath<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ManifestInvalidError(formatPath(issue?.path ?? [], prefix), issue?.message ?? 'invalid');
}

/** Parses a manifest's shape; throws {@link ManifestInvalidError} with the path of the first fault. */
export function parseManifest(value: unknown): AppManifest {
  return parseWithPath(appManifest, value, '');
}

/** Parses deploy-time overrides; faults are reported under `overrides.…`. */
export function parseOverrides(value: unknown): ManifestOverrides {
  return parseWithPath(manifestOverrides, value ?? {}, 'overrides');
}

/**
 * The parts of a code package descriptor (@sightline/sdk `appDescriptorSchema`,
 * already parsed) that the resolver checks edges against. Protocol does not
 * depend on the SDK, so the caller parses the descriptor and passes it here.
 */
export interface CodePorts {
  readonly inputs: Readonly<Record<string, { readonly type: 'video' }>>;
  readonly outputs: Readonly<Record<string, { readonly type: 'video' }>>;
  readonly models: Readonly<Record<string, { readonly package: string }>>;
  readonly parameters: Readonly<
    Record<
      string,
      {
        readonly type: 'number' | 'string' | 'boolean';
        readonly default: ParameterValue;
        readonly overridable: boolean;
        readonly min?: number | undefined;
        readonly max?: number | undefined;
        readonly choices?: readonly string[] | undefined;
      }
    >
  >;
}

export type PackageLookup =
  | { readonly found: true; readonly kind: 'code'; readonly descriptor: CodePorts }
  | { readonly found: true; readonly kind: 'model'; readonly descriptor: ModelDescriptor }
  | { readonly found: false; readonly packageExists: boolean };

/** Finds a registered package version; synchronous, so the caller loads the versions the manifest names first. */
export type PackageLookupFn = (name: string, version: string) => PackageLookup;

export interface ResolvedPackageNode {
  readonly node: string;
  readonly kind: PackageKind;
  readonly package: string;
  readonly version: string;
}

/** A manifest checked against its packages, with overrides applied. */
export interface ResolvedApp {
  readonly name: string;
  readonly code: readonly ResolvedPackageNode[];
  readonly models: readonly ResolvedPackageNode[];
  /** Camera node → the camera name chosen (override, else the node's default). */
  readonly cameras: readonly { readonly node: string; readonly camera: string }[];
  readonly outputs: readonly string[];
  readonly edges: readonly ManifestEdge[];
  /** Per code node, every descriptor parameter: its default, or the manifest parameter wired to it. */
  readonly parameters: Readonly<Record<string, Readonly<Record<string, ParameterValue>>>>;
  /** Per parameter node, the value used (default or override). */
  readonly parameterNodes: Readonly<Record<string, ParameterValue>>;
}

function splitEnd(end: string): { node: string; port: string | undefined } {
  const dot = end.indexOf('.');
  return dot < 0 ? { node: end, port: undefined } : { node: end.slice(0, dot), port: end.slice(dot + 1) };
}

interface ValueLimits {
  readonly type: 'number' | 'string' | 'boolean';
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  readonly choices?: readonly string[] | undefined;
}

/** Why `value` does not fit `spec`, or undefined when it does. */
function valueFault(value: ParameterValue, spec: ValueLimits): string | undefined {
  if (typeof value !== spec.type) return `must be a ${spec.type}, not a ${typeof value}`;
  if (typeof value === 'number') {
    if (spec.min !== undefined && value < spec.min) return `must be at least ${spec.min}`;
    if (spec.max !== undefined && value > spec.max) return `must be at most ${spec.max}`;
  }
  if (typeof value === 'string' && spec.choices !== undefined && !spec.choices.includes(value)) {
    return `must be one of ${spec.choices.join(', ')}`;
  }
  return undefined;
}

/**
 * Checks a parsed manifest against the package versions it names and applies
 * the overrides. The rules, each refused with the path of the fault:
 * - node names are unique; every code and model node names a registered version of a package of that kind;
 * - camera → a code video input; code video output → an output node or another code's video input;
 *   model → a code model port whose declared package it is; parameter → an overridable code parameter of the same type;
 * - every code video input and model port is fed exactly once, every output once; no node is left unconnected;
 *   code nodes form no cycle;
 * - overrides name camera and overridable parameter nodes, with values of the node's type;
 *   every camera node ends up with a camera.
 */
export function resolveManifest(manifest: AppManifest, lookup: PackageLookupFn, overrides: ManifestOverrides = {}): ResolvedApp {
  const fail = (path: string, message: string): never => {
    throw new ManifestInvalidError(path, message);
  };
  const index = new Map<string, number>();
  const code = new Map<string, CodePorts>();
  const models = new Map<string, ModelDescriptor>();
  manifest.nodes.forEach((node, i) => {
    if (index.has(node.name)) fail(`nodes[${i}].name`, `node name "${node.name}" is used twice.`);
    index.set(node.name, i);
    if (node.type !== 'code' && node.type !== 'model') return;
    const found = lookup(node.package, node.version);
    if (!found.found) {
      if (found.packageExists) fail(`nodes[${i}].version`, `package "${node.package}" has no version ${node.version}; push it first.`);
      fail(`nodes[${i}].package`, `no package "${node.package}" in this project; push it first.`);
    } else if (found.kind !== node.type) {
      fail(`nodes[${i}].package`, `"${node.package}" is a ${found.kind} package, but node "${node.name}" is a ${node.type} node.`);
    } else if (found.kind === 'code') code.set(node.name, found.descriptor);
    else models.set(node.name, found.descriptor);
  });
  const nodeAt = (name: string) => {
    const i = index.get(name);
    return i === undefined ? undefined : { i, node: manifest.nodes[i] as ManifestNode };
  };

  // Parameter node values: the default, or the override (only when the manifest allows it).
  const parameterNodes: Record<string, ParameterValue> = {};
  manifest.nodes.forEach((node, i) => {
    if (node.type !== 'parameter') return;
    const fault = valueFault(node.parameter.default, node.parameter);
    if (fault !== undefined) fail(`nodes[${i}].parameter.default`, `the default ${fault}.`);
    parameterNodes[node.name] = node.parameter.default;
  });
  for (const [name, value] of Object.entries(overrides.parameters ?? {})) {
    const path = `overrides.parameters.${name}`;
    const at = nodeAt(name);
    if (at?.node.type !== 'parameter') return fail(path, `the manifest has no parameter node "${name}".`);
    if (!at.node.parameter.overridable) fail(path, `parameter "${name}" is not overridable (set "overridable": true in the manifest to allow it).`);
    const fault = valueFault(value, at.node.parameter);
    if (fault !== undefined) fail(path, `the value ${fault}.`);
    parameterNodes[name] = value;
  }

  const cameras: { node: string; camera: string }[] = [];
  for (const name of Object.keys(overrides.cameras ?? {})) {
    if (nodeAt(name)?.node.type !== 'camera') fail(`overrides.cameras.${name}`, `the manifest has no camera node "${name}".`);
  }
  for (const node of manifest.nodes) {
    if (node.type !== 'camera') continue;
    const camera = overrides.cameras?.[node.name] ?? node.camera;
    if (camera === undefined) return fail(`overrides.cameras.${node.name}`, `choose a camera for camera node "${node.name}".`);
    cameras.push({ node: node.name, camera });
  }

  const fed = new Set<string>(); // consumer ends already fed
  const connected = new Set<string>();
  const codeEdges = new Map<string, Set<string>>(); // code → downstream code (cycle check)
  const wired: Record<string, Record<string, ParameterValue>> = {};
  manifest.edges.forEach((edge, e) => {
    const fromPath = `edges[${e}].from`;
    const toPath = `edges[${e}].to`;
    const from = splitEnd(edge.from);
    const to = splitEnd(edge.to);
    const producer = nodeAt(from.node)?.node ?? fail(fromPath, `no node "${from.node}".`);
    const consumer = nodeAt(to.node)?.node ?? fail(toPath, `no node "${to.node}".`);
    connected.add(producer.name).add(consumer.name);
    if (producer.type === 'output') fail(fromPath, `output node "${producer.name}" consumes video; it cannot feed anything.`);
    if (producer.type === 'code') {
      const ports = code.get(producer.name) as CodePorts;
      if (from.port === undefined) fail(fromPath, `name the output port of "${producer.name}" (one of: ${Object.keys(ports.outputs).join(', ') || 'none'}).`);
      else if (ports.outputs[from.port] === undefined) {
        fail(fromPath, `code node "${producer.name}" has no output "${from.port}" (it has: ${Object.keys(ports.outputs).join(', ') || 'none'}).`);
      }
    } else if (from.port !== undefined) fail(fromPath, `a ${producer.type} node has no ports; write "${producer.name}".`);

    const video = producer.type === 'camera' || producer.type === 'code';
    if (consumer.type === 'output') {
      if (to.port !== undefined) fail(toPath, `an output node has no ports; write "${consumer.name}".`);
      if (!video) fail(toPath, `an output node takes video, not a ${producer.type}.`);
      if (producer.type === 'camera') fail(toPath, `an output node takes the video of a code node, not a camera's raw video.`);
    } else if (consumer.type === 'code') {
      const ports = code.get(consumer.name) as CodePorts;
      if (to.port === undefined) return fail(toPath, `name the port of "${consumer.name}" this edge feeds.`);
      if (video) {
        if (ports.inputs[to.port] === undefined) {
          fail(toPath, `code node "${consumer.name}" has no video input "${to.port}" (it has: ${Object.keys(ports.inputs).join(', ') || 'none'}).`);
        }
        if (producer.type === 'code') {
          if (producer.name === consumer.name) fail(toPath, `a code node cannot feed itself.`);
          codeEdges.set(producer.name, (codeEdges.get(producer.name) ?? new Set()).add(consumer.name));
        }
      } else if (producer.type === 'model') {
        const port = ports.models[to.port];
        if (port === undefined) {
          fail(toPath, `code node "${consumer.name}" has no model port "${to.port}" (it has: ${Object.keys(ports.models).join(', ') || 'none'}).`);
        } else if (port.package !== producer.package) {
          fail(toPath, `model port "${to.port}" of "${consumer.name}" takes package "${port.package}", not "${producer.package}".`);
        }
      } else if (producer.type === 'parameter') {
        const spec = ports.parameters[to.port];
        if (spec === undefined) {
          fail(toPath, `code node "${consumer.name}" has no parameter "${to.port}" (it has: ${Object.keys(ports.parameters).join(', ') || 'none'}).`);
        } else {
          if (spec.type !== producer.parameter.type) {
            fail(toPath, `parameter "${to.port}" of "${consumer.name}" is a ${spec.type}, but parameter node "${producer.name}" is a ${producer.parameter.type}.`);
          }
          if (!spec.overridable) fail(toPath, `parameter "${to.port}" of "${consumer.name}" is not overridable in its package.`);
          const value = parameterNodes[producer.name] as ParameterValue;
          const fault = valueFault(value, spec);
          if (fault !== undefined) {
            // Name where the value came from: the override, else the parameter node's default.
            const where = overrides.parameters?.[producer.name] !== undefined ? `overrides.parameters.${producer.name}` : `nodes[${index.get(producer.name) ?? 0}].parameter.default`;
            fail(where, `the value ${String(value)} does not fit parameter "${to.port}" of "${consumer.name}": it ${fault}.`);
          }
          (wired[consumer.name] ??= {})[to.port] = value;
        }
      }
    } else {
      fail(toPath, `a ${consumer.type} node only produces; edges go producer → consumer.`);
    }
    const key = to.port === undefined ? to.node : `${to.node}.${to.port}`;
    if (fed.has(key)) fail(toPath, `"${key}" is already fed by another edge.`);
    fed.add(key);
  });

  // Every code input and model port is fed; every output fed; nothing dangles.
  manifest.nodes.forEach((node, i) => {
    if (!connected.has(node.name)) fail(`nodes[${i}]`, `node "${node.name}" is not connected to anything.`);
    if (node.type === 'output' && !fed.has(node.name)) fail(`nodes[${i}]`, `output "${node.name}" is fed by nothing.`);
    if (node.type !== 'code') return;
    const ports = code.get(node.name) as CodePorts;
    for (const port of [...Object.keys(ports.inputs), ...Object.keys(ports.models)]) {
      if (!fed.has(`${node.name}.${port}`)) fail(`nodes[${i}]`, `port "${port}" of code node "${node.name}" is not connected.`);
    }
  });
  if (code.size === 0) fail('nodes', 'an app needs at least one code node.');
  // What one instance may hold on a device (protocol desiredApp).
  const count = (type: ManifestNode['type']): number => manifest.nodes.filter((n) => n.type === type).length;
  for (const [type, max] of [['code', 16], ['model', 16], ['camera', 64], ['output', 16]] as const) {
    if (count(type) > max) fail('nodes', `an app holds at most ${max} ${type} nodes.`);
  }

  // Code → code edges must not loop (depth-first search, colouring nodes on the current path).
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string): void => {
    state.set(name, 'open');
    for (const next of codeEdges.get(name) ?? []) {
      const s = state.get(next);
      if (s === 'open') fail(`nodes[${index.get(next) ?? 0}]`, `code node "${next}" is part of a cycle.`);
      if (s === undefined) visit(next);
    }
    state.set(name, 'done');
  };
  for (const name of code.keys()) if (!state.has(name)) visit(name);

  const parameters: Record<string, Record<string, ParameterValue>> = {};
  for (const [name, ports] of code) {
    const values: Record<string, ParameterValue> = {};
    for (const [key, spec] of Object.entries(ports.parameters)) values[key] = wired[name]?.[key] ?? spec.default;
    parameters[name] = values;
  }
  const packageNodes = (kind: PackageKind): ResolvedPackageNode[] =>
    manifest.nodes.flatMap((n) => (n.type === kind ? [{ node: n.name, kind, package: n.package, version: n.version }] : []));
  return {
    name: manifest.name,
    code: packageNodes('code'),
    models: packageNodes('model'),
    cameras,
    outputs: manifest.nodes.flatMap((n) => (n.type === 'output' ? [n.name] : [])),
    edges: manifest.edges.map((e) => ({ from: e.from, to: e.to })),
    parameters,
    parameterNodes,
  };
}
