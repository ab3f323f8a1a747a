import { readFileSync, statSync } from 'node:fs';
import { CliError, EXIT } from './errors.js';

/** Reads a small input file (a CA, a policy document), capped so a wrong path cannot exhaust memory. */
export function readTextFile(path: string, what: string, maxBytes = 256 * 1024): string {
  try {
    if (statSync(path).size > maxBytes)
      throw new CliError('FILE_TOO_LARGE', `${path} (${what}) is larger than ${maxBytes} bytes.`, EXIT.INVALID);
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      'FILE_UNREADABLE',
      `Cannot read ${what} from ${path}: ${(err as { code?: string }).code ?? 'error'}.`,
      EXIT.INVALID,
      { cause: err },
    );
  }
}

export function readJsonFile(path: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readTextFile(path, what));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError('FILE_INVALID', `${path} (${what}) is not valid JSON.`, EXIT.INVALID, { cause: err });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new CliError('FILE_INVALID', `${path} (${what}) must hold a JSON object.`, EXIT.INVALID);
  return value as Record<string, unknown>;
}

/** A CA bundle: PEM text with at least one certificate. */
export function readCaFile(path: string): string {
  const pem = readTextFile(path, 'the CA certificate');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CliError('CA_INVALID', `${path} holds no PEM certificate; give the server's ca.pem.`, EXIT.INVALID);
  }
  return pem;
}
