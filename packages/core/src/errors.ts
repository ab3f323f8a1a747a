/**
 * Base of every error Sightline throws on purpose. Callers switch on `code`
 * (a stable SCREAMING_SNAKE string, as jose's JOSEError does); `message` is a
 * sentence that tells a person what to do next and never carries a secret.
 */
export class SightlineError<C extends string = string> extends Error {
  readonly code: C;
  /** Extra, non-secret facts a client may show (a field name, a limit). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details === undefined ? undefined : Object.freeze({ ...options.details });
  }
}

export function isSightlineError(value: unknown): value is SightlineError {
  return value instanceof SightlineError;
}
