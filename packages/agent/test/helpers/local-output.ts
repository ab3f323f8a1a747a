import { request } from 'node:https';

/**
 * GET from an appliance's local output server on 127.0.0.1 (its certificate
 * is self-signed, so not verified here): status, content type and the first
 * ~200 kB of the body, enough for a few parts of a never-ending MJPEG stream.
 */
export function getLocal(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const req = request({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false }, (res) => {
      res.on('data', (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        if (size > 200_000) req.destroy();
      });
      const done = (): void =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks) });
      res.on('end', done);
      res.on('close', done);
    });
    req.on('error', (e) => (chunks.length > 0 ? undefined : reject(e)));
    req.setTimeout(30_000, () => req.destroy());
    req.end();
  });
}
