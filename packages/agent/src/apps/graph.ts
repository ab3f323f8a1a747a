import type { AppDescriptor } from '@sightline/sdk';
import { AppError } from './errors.js';
import type { DesiredApp } from './planner.js';

/** Where a producer's frames go: a code node's input, or an output node (MJPEG). */
export type FrameTarget =
  { readonly kind: 'input'; readonly node: string; readonly port: string } | { readonly kind: 'output'; readonly node: string };

/** The app graph resolved against the code descriptors: who feeds whom. */
export interface Wiring {
  /** Camera node → the code inputs it feeds. */
  readonly cameras: ReadonlyMap<string, readonly FrameTarget[]>;
  /** Code node → its model port → the model node serving it. */
  readonly models: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** `code.port` (an output port) → where its frames go. */
  readonly outputs: ReadonlyMap<string, readonly FrameTarget[]>;
}

function split(end: string): { node: string; port: string | undefined } {
  const dot = end.indexOf('.');
  return dot < 0 ? { node: end, port: undefined } : { node: end.slice(0, dot), port: end.slice(dot + 1) };
}

function bad(i: number, what: string): AppError {
  return new AppError('APP_GRAPH_INVALID', `edges[${i}] ${what}.`, { details: { path: `edges[${i}]` } });
}

/**
 * Resolves `app.edges` against the nodes the deployment lists and the
 * descriptors of its code packages. The control plane checked the manifest
 * already; the agent checks again because it must not trust a desired state
 * blindly (an edge to an undeclared port would otherwise fail later, inside
 * the app).
 */
export function resolveWiring(app: DesiredApp, descriptors: ReadonlyMap<string, AppDescriptor>): Wiring {
  const cameraNodes = new Set(app.cameras.map((c) => c.node));
  const modelNodes = new Set(app.models.map((m) => m.node));
  const outputNodes = new Set(app.outputs);
  const cameras = new Map<string, FrameTarget[]>();
  const models = new Map<string, Map<string, string>>();
  const outputs = new Map<string, FrameTarget[]>();
  const push = <K>(m: Map<K, FrameTarget[]>, k: K, t: FrameTarget): void => {
    const list = m.get(k) ?? [];
    list.push(t);
    m.set(k, list);
  };
  app.edges.forEach((e, i) => {
    const from = split(e.from);
    const to = split(e.to);
    const toCode = descriptors.get(to.node);
    if (cameraNodes.has(from.node) || (descriptors.has(from.node) && from.port !== undefined)) {
      // A video producer: its frames go to a code input or an output node.
      let target: FrameTarget;
      if (toCode !== undefined) {
        if (to.port === undefined || !Object.hasOwn(toCode.inputs, to.port))
          throw bad(i, `goes to "${e.to}", which is not a video input of ${to.node}`);
        target = { kind: 'input', node: to.node, port: to.port };
      } else if (outputNodes.has(to.node) && to.port === undefined) {
        target = { kind: 'output', node: to.node };
      } else {
        throw bad(i, `goes to "${e.to}", which is neither a code node's input nor an output`);
      }
      if (cameraNodes.has(from.node)) {
        if (target.kind !== 'input') throw bad(i, 'sends raw camera video straight to an output; route it through a code node');
        push(cameras, from.node, target);
        return;
      }
      const producer = descriptors.get(from.node);
      if (producer === undefined || from.port === undefined || !Object.hasOwn(producer.outputs, from.port))
        throw bad(i, `comes from "${e.from}", which is not an output of ${from.node}`);
      push(outputs, e.from, target);
      return;
    }
    if (modelNodes.has(from.node)) {
      if (toCode === undefined || to.port === undefined || !Object.hasOwn(toCode.models, to.port))
        throw bad(i, `binds model ${from.node} to "${e.to}", which is not a model port of a code node`);
      const ports = models.get(to.node) ?? new Map<string, string>();
      ports.set(to.port, from.node);
      models.set(to.node, ports);
      return;
    }
    // Parameter nodes: their values arrive resolved in `app.parameters`.
    if (toCode !== undefined && to.port !== undefined && Object.hasOwn(toCode.parameters, to.port)) return;
    throw bad(i, `comes from "${e.from}", which is not a node of this deployment`);
  });
  for (const [node, d] of descriptors) {
    for (const port of Object.keys(d.models)) {
      if (models.get(node)?.get(port) === undefined) throw new AppError('APP_GRAPH_INVALID', `No model node is bound to ${node}.${port}.`);
    }
  }
  return { cameras, models, outputs };
}
