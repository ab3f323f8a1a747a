import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createHash } from 'node:crypto';
import { appsApi, deviceApi } from '@sightline/protocol';
import type { ProvisioningArchive } from '../../src/archive/archive.js';
import type { TlsIdentity } from '../../src/client/fetcher.js';
import { createCa, issue, normalSerial, readCsr, sha256Hex, type Leaf, type TestCa } from './pki.js';

type Json = Record<string, unknown>;

interface DeviceRecord {
  deviceId: string;
  name: string;
  project: string;
  certSerials: Set<string>;
  revoked: boolean;
  desired: deviceApi.DesiredState;
}

/**
 * A stand-in control plane for the device API (`/device/v1/...`): a real
 * node:https server with requestCert and certificates minted per run, that
 * follows the wire contract in @sightline/protocol closely enough to drive
 * the agent. It can be stopped and started again on the same port.
 */
export class FakeControlPlane {
  readonly heartbeats: { device: string; body: Json }[] = [];
  readonly logs: { device: string; body: Json }[] = [];
  readonly jobUpdates: { device: string; id: string; body: Json }[] = [];
  readonly requests: string[] = [];
  /** TLS connections accepted (keep-alive means few). */
  connections = 0;
  /** Issue 7: a TUF repository folder (`metadata/`, `targets/`) served under `/device/v1/tuf/`. */
  tufDir: string | undefined;
  /** Target files answered with endless bytes instead (the endless-data attack); what was sent is counted. */
  readonly tufEndless = new Set<string>();
  tufEndlessBytesSent = 0;
  /** Operational certificate validity the fake issues. */
  certValidityMs = 30 * 86_400_000;
  /** Package blobs by SHA-256 (issue 6); `blobs.set(sha, other)` serves tampered bytes under a name. */
  readonly blobs = new Map<string, Buffer>();
  /** Blobs whose download never finishes (a stalled transfer, for stage timeouts). */
  readonly stalledBlobs = new Set<string>();
  /** Camera credentials by camera id, and each read of them. */
  readonly cameraSecrets = new Map<string, { username: string; password: string }>();
  readonly credentialReads: { device: string; cameraId: string }[] = [];
  /** App status reports, in arrival order (each checked against appsApi.appStatusReport). */
  readonly appStatus: { device: string; instanceId: string; body: appsApi.AppStatusReport }[] = [];

  private readonly provisioning = new Map<string, { device: string; used: boolean }>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly waiters = new Set<() => void>();
  private readonly sockets = new Set<Socket>();
  private server: Http2SecureServer | HttpsServer | undefined;
  private port = 0;
  private etagCounter = 0;

  private constructor(
    readonly ca: TestCa,
    readonly serverLeaf: Leaf,
    private readonly http2: boolean,
  ) {}

  /** Speaks HTTP/2 and HTTP/1.1 like the real control plane; `http2: false` is an HTTP/1.1-only one (an older release, a proxy). */
  static async start(options: { http2?: boolean } = {}): Promise<FakeControlPlane> {
    const ca = await createCa('Fake Sightline CA');
    const leaf = await issue(ca, { commonName: 'control-plane', usage: 'server', names: ['localhost', '127.0.0.1'] });
    const cp = new FakeControlPlane(ca, leaf, options.http2 ?? true);
    await cp.listen();
    return cp;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get pin(): string {
    return sha256Hex(this.serverLeaf.certPem);
  }

  /** What `sightline device provision` would put in the archive. */
  async provision(device: string, o: { project?: string; expired?: boolean; issuer?: TestCa } = {}): Promise<ProvisioningArchive> {
    const now = Date.now();
    const cert = await issue(o.issuer ?? this.ca, {
      commonName: device,
      usage: 'client',
      notBefore: new Date(now - (o.expired === true ? 7_200_000 : 60_000)),
      notAfter: new Date(now + (o.expired === true ? -3_600_000 : 3_600_000)),
    });
    this.provisioning.set(cert.serial, { device, used: false });
    if (!this.devices.has(device)) {
      this.devices.set(device, {
        deviceId: `dev_${this.devices.size + 1}`,
        name: device,
        project: o.project ?? 'shop-1',
        certSerials: new Set(),
        revoked: false,
        desired: { etag: this.nextEtag(), device, project: o.project ?? 'shop-1', jobs: [], apps: [] },
      });
    }
    return {
      v: 1,
      device,
      project: o.project ?? 'shop-1',
      controlPlane: { url: this.url, serverCertSha256: this.pin },
      caPem: this.ca.certPem,
      provisioning: { certPem: cert.certPem, keyPem: cert.keyPem, expiresAt: new Date(now + 3_600_000).toISOString() },
      network: { mode: 'dhcp' },
      ntp: ['pool.ntp.org'],
      createdAt: new Date(now).toISOString(),
    };
  }

  private nextEtag(): string {
    return `"e${++this.etagCounter}"`;
  }

  setJobs(device: string, jobs: deviceApi.DeviceJob[]): void {
    const d = this.devices.get(device);
    if (d === undefined) throw new Error(`no device ${device}`);
    d.desired = { ...d.desired, etag: this.nextEtag(), jobs };
    for (const w of this.waiters) w();
  }

  /** Replaces the device's app instances (a deploy, a pause, a removal). */
  setApps(device: string, apps: appsApi.DesiredApp[]): void {
    const d = this.devices.get(device);
    if (d === undefined) throw new Error(`no device ${device}`);
    d.desired = { ...d.desired, etag: this.nextEtag(), apps };
    for (const w of this.waiters) w();
  }

  /** Stores a blob under its SHA-256 and returns the name. */
  putBlob(bytes: Buffer): string {
    const sha = createHash('sha256').update(bytes).digest('hex');
    this.blobs.set(sha, bytes);
    return sha;
  }

  /**
   * An operational identity for `device` without the archive flow (tests of
   * what comes after registration): a fresh key and certificate from this CA.
   */
  async operationalIdentity(device: string): Promise<TlsIdentity> {
    const d = this.devices.get(device);
    if (d === undefined) throw new Error(`no device ${device}: provision it first`);
    const cert = await issue(this.ca, { commonName: device, usage: 'client' });
    d.certSerials.add(cert.serial);
    return { url: this.url, serverCertSha256: this.pin, caPem: this.ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem };
  }

  revoke(device: string): void {
    const d = this.devices.get(device);
    if (d !== undefined) d.revoked = true;
  }

  deviceRecord(device: string): DeviceRecord | undefined {
    return this.devices.get(device);
  }

  private listen(): Promise<void> {
    const tls = {
      key: this.serverLeaf.keyPem,
      cert: this.serverLeaf.certPem,
      ca: [this.ca.certPem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2' as const,
    };
    const server = this.http2
      ? createSecureServer(
          { ...tls, allowHTTP1: true },
          (req: Http2ServerRequest, res: Http2ServerResponse) =>
            void this.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse),
        )
      : createHttpsServer(tls, (req, res) => void this.handle(req, res));
    (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 65_000;
    server.on('secureConnection', (s: TLSSocket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server = server;
    return new Promise((resolve) =>
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      }),
    );
  }

  /** Kills the server and every connection (the control plane going away). State is kept. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const w of this.waiters) w();
    for (const sock of this.sockets) sock.destroy();
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Whether it serves now (false between stop() and restart()). */
  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Comes back on the same port with the same certificate. */
  async restart(): Promise<void> {
    await this.listen();
  }

  async close(): Promise<void> {
    await this.stop();
  }

  private send(res: ServerResponse, status: number, body?: Json, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private fail(res: ServerResponse, status: number, code: string, message: string): void {
    this.send(res, status, { error: { code, message } });
  }

  private async body(req: IncomingMessage): Promise<Json> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text === '' ? {} : (JSON.parse(text) as Json);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://x');
    this.requests.push(`${req.method ?? ''} ${url.pathname}`);
    const session = (req as unknown as Partial<Http2ServerRequest>).stream?.session;
    const peer = ((session?.socket ?? req.socket) as TLSSocket).getPeerX509Certificate();
    if (peer === undefined) return this.fail(res, 401, 'CERT_REQUIRED', 'a client certificate is required');
    const ca = new X509Certificate(this.ca.certPem);
    if (!peer.checkIssued(ca) || !peer.verify(ca.publicKey))
      return this.fail(res, 401, 'CERT_UNTRUSTED', 'the certificate is not from this CA');
    const serial = normalSerial(peer.serialNumber);
    const body = await this.body(req);

    if (req.method === 'POST' && url.pathname === '/device/v1/register') {
      const prov = this.provisioning.get(serial);
      if (prov === undefined) return this.fail(res, 403, 'CERT_WRONG_KIND', 'not a provisioning certificate');
      if (Date.parse(peer.validTo) < Date.now())
        return this.fail(res, 401, 'PROVISIONING_CERT_EXPIRED', 'the provisioning certificate expired');
      if (prov.used) return this.fail(res, 409, 'PROVISIONING_CERT_USED', 'the provisioning certificate was already used');
      const parsed = deviceApi.registerRequest.safeParse(body);
      if (!parsed.success) return this.fail(res, 400, 'CSR_INVALID', 'bad body');
      const csr = await readCsr(parsed.data.csrPem);
      if (!csr.valid || csr.curve !== 'P-256') return this.fail(res, 400, 'CSR_INVALID', 'bad CSR');
      if (csr.cn !== prov.device) return this.fail(res, 400, 'CSR_NAME_MISMATCH', `the CSR must name ${prov.device}`);
      prov.used = true;
      const d = this.devices.get(prov.device);
      if (d === undefined) return this.fail(res, 404, 'DEVICE_NOT_FOUND', 'no such device');
      const cert = await issue(this.ca, {
        commonName: d.name,
        usage: 'client',
        publicKey: csr.publicKey,
        notBefore: new Date(Date.now() - 1000),
        notAfter: new Date(Date.now() + this.certValidityMs),
      });
      d.certSerials.add(cert.serial);
      return this.send(res, 200, {
        deviceId: d.deviceId,
        device: d.name,
        project: d.project,
        certPem: cert.certPem,
        caPem: this.ca.certPem,
        expiresAt: new Date(Date.now() + this.certValidityMs).toISOString(),
      });
    }

    const d = [...this.devices.values()].find((x) => x.certSerials.has(serial));
    if (d === undefined) return this.fail(res, 403, 'CERT_WRONG_KIND', 'not a device certificate');
    if (d.revoked) return this.fail(res, 401, 'CERT_REVOKED', 'the device was deregistered');
    if (Date.parse(peer.validTo) < Date.now()) return this.fail(res, 401, 'CERT_EXPIRED', 'expired');

    if (req.method === 'POST' && url.pathname === '/device/v1/certificate/renew') {
      const csr = await readCsr(String(body.csrPem));
      if (!csr.valid || csr.cn !== d.name) return this.fail(res, 400, 'CSR_NAME_MISMATCH', 'wrong name');
      const cert = await issue(this.ca, {
        commonName: d.name,
        usage: 'client',
        publicKey: csr.publicKey,
        notBefore: new Date(Date.now() - 1000),
        notAfter: new Date(Date.now() + this.certValidityMs),
      });
      d.certSerials.add(cert.serial);
      return this.send(res, 200, { certPem: cert.certPem, expiresAt: new Date(Date.now() + this.certValidityMs).toISOString() });
    }
    if (req.method === 'GET' && url.pathname === '/device/v1/desired-state') {
      const wait = Math.min(60, Number(url.searchParams.get('wait') ?? '0'));
      if (req.headers['if-none-match'] === d.desired.etag) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(t);
            this.waiters.delete(done);
            resolve();
          };
          const t = setTimeout(done, wait * 1000);
          this.waiters.add(done);
        });
        if (res.destroyed || this.server === undefined) return;
        if (req.headers['if-none-match'] === d.desired.etag) return this.send(res, 304, undefined, { etag: d.desired.etag });
      }
      return this.send(res, 200, d.desired, { etag: d.desired.etag });
    }
    if (req.method === 'POST' && url.pathname === '/device/v1/heartbeat') {
      const parsed = deviceApi.heartbeatRequest.safeParse(body);
      if (!parsed.success) return this.fail(res, 400, 'VALIDATION', parsed.error.message);
      this.heartbeats.push({ device: d.name, body });
      return this.send(res, 200, { ok: true, serverTime: new Date().toISOString() });
    }
    if (req.method === 'POST' && url.pathname === '/device/v1/logs') {
      const parsed = deviceApi.deviceLogBatch.safeParse(body);
      if (!parsed.success) return this.fail(res, 400, 'VALIDATION', parsed.error.message);
      this.logs.push({ device: d.name, body });
      return this.send(res, 200, { ok: true });
    }
    const blob = /^\/device\/v1\/packages\/blobs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === 'GET' && blob !== null) {
      const sha = blob[1] ?? '';
      const bytes = this.blobs.get(sha);
      if (bytes === undefined) return this.fail(res, 404, 'BLOB_NOT_FOUND', 'no such blob for this device');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
      if (this.stalledBlobs.has(sha)) {
        res.write(bytes.subarray(0, Math.min(1, bytes.length)));
        return; // never ends; the socket goes when the server stops
      }
      res.end(bytes);
      return;
    }
    const creds = /^\/device\/v1\/cameras\/([^/]+)\/credentials$/.exec(url.pathname);
    if (req.method === 'GET' && creds !== null) {
      const cameraId = decodeURIComponent(creds[1] ?? '');
      const secret = this.cameraSecrets.get(cameraId);
      if (secret === undefined) return this.fail(res, 404, 'CAMERA_NOT_FOUND', 'no camera bound to this device');
      this.credentialReads.push({ device: d.name, cameraId });
      return this.send(res, 200, { ...secret });
    }
    const appStatus = /^\/device\/v1\/apps\/([^/]+)\/status$/.exec(url.pathname);
    if (req.method === 'POST' && appStatus !== null) {
      const parsed = appsApi.appStatusReport.safeParse(body);
      if (!parsed.success) return this.fail(res, 400, 'VALIDATION', parsed.error.message);
      this.appStatus.push({ device: d.name, instanceId: decodeURIComponent(appStatus[1] ?? ''), body: parsed.data });
      res.writeHead(204).end();
      return;
    }
    const tuf = /^\/device\/v1\/tuf\/(metadata|targets)\/([A-Za-z0-9._-]{1,300})$/.exec(url.pathname);
    if (req.method === 'GET' && tuf !== null) return this.serveTuf(res, tuf[1] ?? '', tuf[2] ?? '');
    const job = /^\/device\/v1\/jobs\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'POST' && job !== null) {
      const parsed = deviceApi.jobUpdateRequest.safeParse(body);
      if (!parsed.success) return this.fail(res, 400, 'VALIDATION', parsed.error.message);
      this.jobUpdates.push({ device: d.name, id: decodeURIComponent(job[1] ?? ''), body });
      return this.send(res, 200, { ok: true });
    }
    return this.fail(res, 404, 'NOT_FOUND', 'no such route');
  }

  private async serveTuf(res: ServerResponse, kind: string, file: string): Promise<void> {
    if (this.tufDir === undefined) return this.fail(res, 404, 'NOT_FOUND', 'no release repository');
    if (kind === 'targets' && this.tufEndless.has(file)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: it never ends
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      while (!res.destroyed && this.tufEndlessBytesSent < 1024 * 1024 * 1024) {
        this.tufEndlessBytesSent += chunk.length;
        if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve));
      }
      return;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.tufDir, kind, file));
    } catch {
      return this.fail(res, 404, 'NOT_FOUND', `no ${kind} file ${file}`);
    }
    res.writeHead(200, {
      'content-type': kind === 'metadata' ? 'application/json' : 'application/octet-stream',
      'content-length': bytes.length,
    });
    res.end(bytes);
  }
}

/** Polls until `check` is true (or throws after `timeoutMs`). */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
