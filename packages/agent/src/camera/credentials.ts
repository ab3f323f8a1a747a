import { inspect } from 'node:util';
import { CameraError } from './errors.js';

const MAX_FIELD = 1024;

/**
 * A camera's user name and password, held in memory only (seed point 18: the
 * appliance fetches them just in time; apps never see them). They never reach
 * a command line, a log line or JSON: `toJSON`, `toString` and
 * `util.inspect` print a placeholder. `dispose()` overwrites the password
 * bytes once the camera is removed.
 *
 * @example
 * const creds = CameraCredentials.from('viewer', passwordFromSecretsStore);
 */
export class CameraCredentials {
  readonly #username: string;
  readonly #password: Buffer;

  private constructor(username: string, password: Buffer) {
    this.#username = username;
    this.#password = password;
  }

  static from(username: string, password: string | Uint8Array): CameraCredentials {
    // RFC 7617 2: a Basic user-id cannot contain a colon; RFC 7616 3.4: a quoted
    // username cannot carry quotes or controls. Refuse them rather than escape.
    if (username.length === 0 || username.length > MAX_FIELD || /[\x00-\x1f\x7f":\\]/.test(username)) {
      throw new CameraError(
        'CAMERA_SOURCE_INVALID',
        'The camera user name is empty, too long, or contains a colon, a quote, a backslash or a control character.',
      );
    }
    const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password);
    if (bytes.length > MAX_FIELD) throw new CameraError('CAMERA_SOURCE_INVALID', `The camera password is longer than ${MAX_FIELD} bytes.`);
    return new CameraCredentials(username, bytes);
  }

  get username(): string {
    return this.#username;
  }

  /** The password bytes, for hashing. Callers must not keep or copy them. */
  passwordBytes(): Buffer {
    return this.#password;
  }

  /** True when `text` contains the password (tests and log scrubbing). */
  appearsIn(text: string | Buffer): boolean {
    if (this.#password.length === 0) return false;
    const hay = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    return hay.includes(this.#password);
  }

  dispose(): void {
    this.#password.fill(0);
  }

  toJSON(): string {
    return '[camera credentials]';
  }

  toString(): string {
    return '[camera credentials]';
  }

  [inspect.custom](): string {
    return '[camera credentials]';
  }
}
