import { isSightlineError, SightlineError } from '@sightline/core';
import { printable } from './output/print.js';

/**
 * Exit codes scripts can rely on. They are part of the CLI's public surface:
 * change one and you break someone's shell script.
 */
export const EXIT = Object.freeze({
  OK: 0,
  UNEXPECTED: 1,
  USAGE: 2,
  AUTH: 3,
  DENIED: 4,
  NOT_FOUND: 5,
  CONFLICT: 6,
  INVALID: 7,
  UNREACHABLE: 8,
  VERIFY_FAILED: 9,
  SIMULATE_DENY: 10,
  DEPLOY_FAILED: 11,
  CANCELLED: 130,
});
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The same table, as the top-level `--help` prints it. */
export const EXIT_CODES_HELP = `
Exit codes:
  0    success (policy simulate: ALLOW; audit verify/prove: verified)
  1    unexpected failure (a bug, or a server error 5xx)
  2    usage error: unknown command or flag, missing or malformed argument,
       or a confirmation (--yes) needed where there is no terminal to ask on
  3    authentication: not signed in, session expired or invalid, wrong
       password or TOTP code, MFA enrollment unfinished, account locked (401, 423);
       secret get: the session was not signed in with MFA, or is an API key
  4    access denied (403)
  5    not found (404), or gone for good (410: a destroyed key)
  6    conflict: already exists, in use, last admin, already initialized (409)
  7    invalid input rejected by the server or unreadable input file
       (400, 405, 413, 415)
  8    server unreachable, timed out or unavailable (503), TLS verification
       or handshake failed
  9    audit verify / audit prove: verification FAILED: an event was changed,
       dropped, inserted or reordered, a checkpoint or proof is bad, or the
       key differs from the trusted one; the message names what and where.
       artifact get: the download failed its SHA-256 or length check. Stored
       data (artifact, secret, log chunk) failed its integrity check
  10   policy simulate: DENY
  11   app deploy / app describe --follow: the deployment failed (the stage and
       reason are printed), was rolled back, or was removed before it ran
  130  cancelled at a prompt, or a transfer interrupted (Ctrl-C)

Errors go to stderr as one line, "error CODE: sentence"; CODE is stable.

Environment:
  SIGHTLINE_CONFIG_DIR  where profiles.json lives (default ~/.config/sightline)
  SIGHTLINE_URL, SIGHTLINE_CA (a PEM file), SIGHTLINE_TOKEN
                        override the profile's URL, CA and token, for automation
                        (e.g. SIGHTLINE_TOKEN=<API key> sightline user list)
`;

/** An error the CLI raises itself, with the exit code it ends the process with. */
export class CliError extends SightlineError {
  constructor(
    code: string,
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(code, message, options);
  }
}

/** An error answer from the server: its `{error:{code,message}}` and the HTTP status. */
export class ApiError extends SightlineError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(code, message, details === undefined ? undefined : { details });
  }
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 423) return EXIT.AUTH;
  if (status === 403) return EXIT.DENIED;
  if (status === 404 || status === 410) return EXIT.NOT_FOUND;
  if (status === 409) return EXIT.CONFLICT;
  if (status === 503) return EXIT.UNREACHABLE;
  if (status >= 400 && status < 500) return EXIT.INVALID;
  return EXIT.UNEXPECTED;
}

/** Codes thrown by server code the CLI runs in-process (`server init|start`). */
const LOCAL_CODES: Readonly<Record<string, ExitCode>> = {
  ALREADY_INITIALIZED: EXIT.CONFLICT,
  CONFIG_INVALID: EXIT.INVALID,
  CONFIG_UNREADABLE: EXIT.INVALID,
};

/**
 * Server codes whose HTTP status (400, the mapper's default) is less precise
 * than their meaning; the code decides the exit status for these.
 */
const API_CODES: Readonly<Record<string, ExitCode>> = {
  GRANT_NOT_FOUND: EXIT.NOT_FOUND,
  POLICY_IN_USE: EXIT.CONFLICT,
  LAST_ADMIN: EXIT.CONFLICT,
  // `audit verify --server`: the live store failed verification (the server answers 400).
  AUDIT_EVENT_MISMATCH: EXIT.VERIFY_FAILED,
  AUDIT_CHECKPOINT_MISMATCH: EXIT.VERIFY_FAILED,
  AUDIT_CHECKPOINT_INVALID: EXIT.VERIFY_FAILED,
  AUDIT_ORDER_INVALID: EXIT.VERIFY_FAILED,
  AUDIT_UNSIGNED_EVENTS: EXIT.VERIFY_FAILED,
  // Secret values: a person's session with MFA only (the server answers 403); signing in again fixes it.
  MFA_REQUIRED_FOR_SECRET: EXIT.AUTH,
  // Stored data that failed its integrity check (the server answers 409): nothing was decrypted.
  SECRET_INTEGRITY_FAILED: EXIT.VERIFY_FAILED,
  LOG_CHUNK_INTEGRITY_FAILED: EXIT.VERIFY_FAILED,
  ENVELOPE_AUTH_FAILED: EXIT.VERIFY_FAILED,
  ENVELOPE_MALFORMED: EXIT.VERIFY_FAILED,
  ENVELOPE_TRUNCATED: EXIT.VERIFY_FAILED,
  ENVELOPE_TRAILING_DATA: EXIT.VERIFY_FAILED,
  ENVELOPE_OBJECT_MISMATCH: EXIT.VERIFY_FAILED,
  ENVELOPE_DIGEST_MISMATCH: EXIT.VERIFY_FAILED,
};

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ApiError) return API_CODES[err.code] ?? exitCodeForStatus(err.status);
  if (isSightlineError(err)) return LOCAL_CODES[err.code] ?? EXIT.UNEXPECTED;
  return EXIT.UNEXPECTED;
}

/** `error CODE: sentence`, never a stack trace (set SIGHTLINE_DEBUG=1 for one). */
export function describeError(err: unknown): string {
  if (isSightlineError(err)) return printable(`error ${err.code}: ${err.message}`);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') return 'error ADDRESS_IN_USE: The port is already in use; stop the other process or pick another with --port.';
  return printable(`error UNEXPECTED: ${err instanceof Error ? err.message : String(err)}`);
}
