import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { AgentError } from '../errors.js';

/**
 * Why a freshly handshaken connection is not the control plane pinned at
 * provisioning, or undefined when it is: exactly the pinned certificate
 * (resumption is off, so the full certificate is always there to check),
 * which must also chain to the archive's CA and be within its validity.
 * The host name is not checked: the pin names the one certificate, which is
 * stronger than any name match (RFC 7469 2.6 allows pinning to stand in).
 */
export function pinnedServerRefusal(socket: TLSSocket, pin: string): AgentError | undefined {
  const peer = socket.getPeerX509Certificate();
  const seen = peer === undefined ? '' : createHash('sha256').update(peer.raw).digest('hex');
  // Issue 5 / seed point 9: the control plane must present exactly the certificate pinned in the archive.
  if (seen !== pin) {
    return new AgentError(
      'SERVER_PIN_MISMATCH',
      `The control plane presented a certificate (sha256 ${seen.slice(0, 16)}…) other than the one pinned at provisioning (${pin.slice(0, 16)}…); refusing to talk to it. If the server certificate was replaced on purpose, the device must be provisioned again.`,
      { details: { expected: pin, presented: seen } },
    );
  }
  // RFC 5280 6.1: the pinned certificate must also chain to the CA from the archive and be within its validity.
  if (!socket.authorized) {
    return new AgentError(
      'SERVER_UNTRUSTED',
      `The control plane's certificate does not verify against the CA from the archive (${String(socket.authorizationError)}).`,
      { details: { reason: String(socket.authorizationError) } },
    );
  }
  return undefined;
}

const TRANSPORT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
]);

/** A network failure as CONTROL_PLANE_UNREACHABLE with the system's reason (an AgentError passes through). */
export function transportError(err: unknown, url: string): AgentError {
  if (err instanceof AgentError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const what = TRANSPORT_CODES.has(code) ? code : err instanceof Error ? err.message : String(err);
  return new AgentError('CONTROL_PLANE_UNREACHABLE', `Cannot reach the control plane at ${url} (${what}).`, {
    cause: err,
    details: { reason: code || what },
  });
}
