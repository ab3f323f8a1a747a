import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { FrameData } from '@sightline/sdk';
import type { OutputHub } from './hub.js';
import { JpegEncoder } from './jpeg.js';

export const DEFAULT_LOCAL_PORT = 8443;
const BOUNDARY = 'sightline-frame';
const ROUTE = /^\/apps\/([A-Za-z0-9_.-]{1,128})\/outputs\/([A-Za-z0-9_.-]{1,128})\.mjpeg$/;

export interface LocalServerOptions {
  /** Port to listen on (0: any free one). Default 8443. */
  readonly port?: number;
  /** Address to listen on; default all interfaces (the status page is for the local network). */
  readonly host?: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** The bearer token `sightline-agent status` prints. */
  readonly token: string;
  readonly hub: OutputHub;
  readonly ffmpegPath: string;
  /** JPEG quality for ffmpeg's -q:v (2 best … 31 worst); default 5. */
  readonly quality?: number;
}

interface Stream {
  readonly encoder: JpegEncoder;
  readonly viewers: Set<ServerResponse>;
  readonly unsubscribe: () => void;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The appliance's local video output (Panorama's HDMI sink): each output node
 * of each running instance as MJPEG (`multipart/x-mixed-replace`) over HTTPS
 * at `GET /apps/:instanceId/outputs/:node.mjpeg`, behind the bearer token the
 * agent keeps sealed in its store. Frames are JPEG-encoded once per output
 * while someone watches, and dropped (never queued) for a viewer whose
 * connection is slower than the app.
 */
export class LocalOutputServer {
  private readonly streams = new Map<string, Stream>();
  private readonly sockets = new Set<Socket>();
  private readonly tokenDigest: Buffer;

  private constructor(
    private readonly server: Server,
    private readonly o: LocalServerOptions,
  ) {
    this.tokenDigest = digest(o.token);
  }

  static async start(o: LocalServerOptions): Promise<LocalOutputServer> {
    const server = createServer({ cert: o.certPem, key: o.keyPem, minVersion: 'TLSv1.2' });
    const s = new LocalOutputServer(server, o);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => s.handle(req, res));
    server.on('secureConnection', (sock: Socket) => {
      s.sockets.add(sock);
      sock.on('close', () => s.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? DEFAULT_LOCAL_PORT, o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return s;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private authorised(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer ([A-Za-z0-9_-]{16,256})$/.exec(h);
    if (m === null) return false;
    // Compare digests in constant time: the token's length leaks nothing either.
    return timingSafeEqual(digest(m[1] ?? ''), this.tokenDigest);
  }

  private plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'strict-transport-security': 'max-age=31536000',
      ...headers,
    });
    res.end(`${text}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'https://local').pathname;
    if (!this.authorised(req)) {
      return this.plain(res, 401, 'Authentication required: send Authorization: Bearer <token from sightline-agent status>.', {
        'www-authenticate': 'Bearer realm="sightline-agent"',
      });
    }
    if (req.method !== 'GET') return this.plain(res, 405, 'Only GET.', { allow: 'GET' });
    if (path === '/' || path === '/apps') {
      const outputs = this.o.hub.list().map((o) => ({ ...o, path: `/apps/${o.instanceId}/outputs/${o.node}.mjpeg` }));
      res.writeHead(200, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'strict-transport-security': 'max-age=31536000',
      });
      res.end(`${JSON.stringify({ outputs })}\n`);
      return;
    }
    const m = ROUTE.exec(path);
    if (m === null) return this.plain(res, 404, 'No such page. Outputs are at /apps/<instance>/outputs/<node>.mjpeg.');
    const [instanceId, node] = [m[1] ?? '', m[2] ?? ''];
    if (!this.o.hub.has(instanceId, node)) return this.plain(res, 404, `Instance ${instanceId} has no running output ${node}.`);
    this.watch(instanceId, node, res);
  }

  private watch(instanceId: string, node: string, res: ServerResponse): void {
    const key = `${instanceId}/${node}`;
    let stream = this.streams.get(key);
    if (stream === undefined) {
      const encoder = new JpegEncoder(this.o.ffmpegPath, this.o.quality);
      const viewers = new Set<ServerResponse>();
      const unsubscribe = this.o.hub.subscribe(instanceId, node, {
        frame: (f) => void this.send(key, f),
        closed: () => this.endStream(key),
      });
      if (unsubscribe === undefined) return this.plain(res, 404, `Instance ${instanceId} has no running output ${node}.`);
      stream = { encoder, viewers, unsubscribe };
      this.streams.set(key, stream);
    }
    res.writeHead(200, {
      'content-type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'strict-transport-security': 'max-age=31536000',
      connection: 'close',
    });
    stream.viewers.add(res);
    const s = stream;
    res.on('close', () => {
      s.viewers.delete(res);
      if (s.viewers.size === 0) this.endStream(key);
    });
  }

  private async send(key: string, frame: FrameData): Promise<void> {
    const s = this.streams.get(key);
    if (s === undefined) return;
    const jpeg = await s.encoder.encode(frame);
    if (jpeg === undefined) return;
    const head = Buffer.from(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`, 'latin1');
    for (const res of s.viewers) {
      // A slow viewer misses frames instead of queueing them in memory.
      if (res.writableNeedDrain) continue;
      res.write(head);
      res.write(jpeg);
      res.write('\r\n');
    }
  }

  private endStream(key: string): void {
    const s = this.streams.get(key);
    if (s === undefined) return;
    this.streams.delete(key);
    s.unsubscribe();
    s.encoder.close();
    for (const res of s.viewers) res.end();
  }

  async close(): Promise<void> {
    for (const key of [...this.streams.keys()]) this.endStream(key);
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
