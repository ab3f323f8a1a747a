import type { FrameData } from '@sightline/sdk';

interface Viewer {
  readonly frame: (frame: FrameData) => void;
  readonly closed: () => void;
}

/**
 * The frames apps put to their output nodes, by instance and output node,
 * for the local MJPEG server. Nothing is stored: a frame goes to whoever
 * watches now and is gone (raw video never leaves the appliance unless an
 * app sends it to an output, and then only to an authenticated viewer).
 */
export class OutputHub {
  private readonly outputs = new Map<string, Set<Viewer>>();

  private static key(instanceId: string, node: string): string {
    return `${instanceId}\u0000${node}`;
  }

  /** Declares an instance's output nodes (viewers may connect from now on). */
  register(instanceId: string, nodes: readonly string[]): void {
    for (const n of nodes) {
      const k = OutputHub.key(instanceId, n);
      if (!this.outputs.has(k)) this.outputs.set(k, new Set());
    }
  }

  /** Removes an instance's outputs and ends their viewers' streams. */
  unregister(instanceId: string, nodes: readonly string[]): void {
    for (const n of nodes) {
      const k = OutputHub.key(instanceId, n);
      const viewers = this.outputs.get(k);
      this.outputs.delete(k);
      for (const v of viewers ?? []) v.closed();
    }
  }

  /** Every output there is now. */
  list(): { instanceId: string; node: string }[] {
    return [...this.outputs.keys()].map((k) => {
      const [instanceId = '', node = ''] = k.split('\u0000');
      return { instanceId, node };
    });
  }

  has(instanceId: string, node: string): boolean {
    return this.outputs.has(OutputHub.key(instanceId, node));
  }

  /** Whether anyone watches the output now (else its frames need not even be read). */
  watched(instanceId: string, node: string): boolean {
    return (this.outputs.get(OutputHub.key(instanceId, node))?.size ?? 0) > 0;
  }

  /**
   * Hands a frame to the output's viewers. The frame is theirs to keep
   * (an encoder may still be writing it to ffmpeg after this returns):
   * publishers give a buffer of its own, never a pooled or reused one.
   */
  publish(instanceId: string, node: string, frame: FrameData): void {
    const viewers = this.outputs.get(OutputHub.key(instanceId, node));
    if (viewers === undefined) return;
    for (const v of viewers) v.frame(frame);
  }

  /** Returns an unsubscribe function, or undefined when there is no such output. */
  subscribe(instanceId: string, node: string, viewer: Viewer): (() => void) | undefined {
    const viewers = this.outputs.get(OutputHub.key(instanceId, node));
    if (viewers === undefined) return undefined;
    viewers.add(viewer);
    return () => viewers.delete(viewer);
  }
}
