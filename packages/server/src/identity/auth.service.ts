import { randomUUID } from 'node:crypto';
import { base32Encode, generateTotpSecret, otpauthUri, TotpError, verifyTotp } from '@sightline/core';
import type { Clock } from '../clock.js';
import type { Principal } from '../http/router.js';
import { AuthError, type Authenticator } from '../http/pipeline.js';
import type { RootKey } from '../keys/root-key.js';
import type { Store } from '../storage/store.js';
import { apiKeyIdOf, newSessionToken, sameHash, SESSION_PREFIX, APIKEY_PREFIX, tokenHash } from './credential-tokens.js';
import { IdentityError } from './identity-errors.js';
import { checkPassword, decoyHash, hashPassword, verifyPassword } from './passwords.js';
import type { UserRepository, UserRow } from './user.repository.js';

const HOUR_MS = 3_600_000;
const ENROLLMENT_TTL_MS = 10 * 60_000;
export const TOTP_ISSUER = 'Sightline';

export interface AuthSettings {
  requireMfa: boolean;
  sessionTtlSeconds: number;
  maxFailedLoginsPerHour: number;
}

export interface LoginResult {
  token: string;
  /** `mfa-enroll`: the token may only finish TOTP enrollment. */
  scope: 'full' | 'mfa-enroll';
  expiresAt: string;
  mfaPresent: boolean;
}

export interface LoginEvent {
  kind: 'login' | 'login-failed' | 'mfa-enrolled';
  userId: string;
  userName: string;
  sourceIp: string;
  reason?: string;
}

export function totpSealContext(userId: string): string {
  return `totp-seed:${userId}`;
}

/**
 * Sign-in (seed point 3: MFA on every account): password + TOTP, lockout
 * after too many failures, short-lived sessions, and bearer authentication
 * for sessions and API keys.
 */
export class AuthService implements Authenticator {
  constructor(
    private readonly store: Store,
    private readonly users: UserRepository,
    private readonly rootKey: RootKey,
    private readonly clock: Clock,
    private readonly settings: AuthSettings,
    private readonly onEvent: (e: LoginEvent) => Promise<void> = () => Promise.resolve(),
  ) {}

  async login(name: string, password: string, totp: string | undefined, sourceIp: string): Promise<LoginResult> {
    const now = this.clock.now();
    const user = await this.users.findByName(name);
    const enrolled = user !== undefined && user.totp_confirmed === 1;
    // Ask for the code before judging the password, so a missing code never
    // tells a guesser whether the password was right. Unknown names get the
    // same answer as enrolled ones.
    if ((user === undefined || enrolled) && (totp === undefined || totp === '')) {
      throw new IdentityError('MFA_REQUIRED', 'Enter the 6-digit code from your authenticator app along with the password.');
    }
    if (user === undefined) {
      await verifyPassword(await decoyHash(), password);
      throw loginFailed();
    }
    await this.assertNotLocked(user, now);
    const passwordOk = user.disabled === 0 && (await verifyPassword(user.password_hash, password));
    if (!passwordOk) {
      await this.fail(user, now, sourceIp, 'password');
      throw loginFailed();
    }

    if (!enrolled) {
      if (this.settings.requireMfa) {
        await this.users.clearFailures(user.id);
        return this.issueSession(user, 'mfa-enroll', false, now, sourceIp, ENROLLMENT_TTL_MS);
      }
      await this.onEvent({ kind: 'login', userId: user.id, userName: user.name, sourceIp });
      return this.issueSession(user, 'full', false, now, sourceIp, this.settings.sessionTtlSeconds * 1000);
    }

    const step = this.checkTotp(user, totp ?? '', now);
    if (step === undefined) {
      await this.fail(user, now, sourceIp, 'totp');
      throw loginFailed();
    }
    // RFC 6238 5.2: a verifier must not accept the second attempt of the same OTP.
    if (!(await this.users.claimTotpStep(user.id, step))) {
      await this.fail(user, now, sourceIp, 'totp-replay');
      throw new IdentityError('TOTP_REPLAYED', 'That code was already used; wait for the next code from your authenticator app.');
    }
    await this.users.clearFailures(user.id);
    await this.onEvent({ kind: 'login', userId: user.id, userName: user.name, sourceIp });
    return this.issueSession(user, 'full', true, now, sourceIp, this.settings.sessionTtlSeconds * 1000);
  }

  private checkTotp(user: UserRow, code: string, now: number): number | undefined {
    if (user.totp_secret_sealed === null) return undefined;
    const secret = this.rootKey.open(user.totp_secret_sealed, totpSealContext(user.id));
    try {
      return verifyTotp(secret, code, now, { window: 1 });
    } catch (err) {
      if (err instanceof TotpError) return undefined;
      throw err;
    } finally {
      secret.fill(0);
    }
  }

  private async assertNotLocked(user: UserRow, now: number): Promise<void> {
    const failures = await this.users.failuresSince(user.id, now - HOUR_MS);
    if (failures.length >= this.settings.maxFailedLoginsPerHour) {
      const oldest = failures[failures.length - this.settings.maxFailedLoginsPerHour] ?? now;
      const retryAfterSeconds = Math.max(1, Math.ceil((oldest + HOUR_MS - now) / 1000));
      throw new IdentityError(
        'ACCOUNT_LOCKED',
        `This account is locked after ${this.settings.maxFailedLoginsPerHour} failed sign-ins within an hour; try again in ${Math.ceil(retryAfterSeconds / 60)} minutes or ask an administrator.`,
        { details: { retryAfterSeconds } },
      );
    }
  }

  private async fail(user: UserRow, now: number, sourceIp: string, reason: string): Promise<void> {
    await this.users.recordFailure(user.id, now);
    await this.onEvent({ kind: 'login-failed', userId: user.id, userName: user.name, sourceIp, reason });
  }

  private async issueSession(user: UserRow, scope: 'full' | 'mfa-enroll', mfaPresent: boolean, now: number, sourceIp: string, ttlMs: number): Promise<LoginResult> {
    const token = newSessionToken();
    const expires = now + ttlMs;
    await this.store.db
      .insertInto('sessions')
      .values({ id: randomUUID(), token_hash: tokenHash(token), user_id: user.id, scope, mfa_present: mfaPresent ? 1 : 0, created_at: now, expires_at: expires, source_ip: sourceIp })
      .execute();
    return { token, scope, expiresAt: new Date(expires).toISOString(), mfaPresent };
  }

  /** Starts (or restarts) TOTP enrollment for a user who has none confirmed. */
  async beginEnrollment(principal: Principal): Promise<{ secret: string; otpauthUri: string }> {
    const user = await this.users.findById(principal.userId);
    if (user === undefined) throw new AuthError('AUTH_INVALID', 'The session is no longer valid; sign in again.');
    if (user.totp_confirmed === 1) {
      throw new IdentityError('CONFLICT', 'TOTP is already enrolled for this account; an administrator can reset it ("sightline user reset-mfa").');
    }
    const secret = generateTotpSecret();
    await this.users.update(user.id, { totp_secret_sealed: this.rootKey.seal(secret, totpSealContext(user.id)), totp_confirmed: 0 });
    const result = { secret: base32Encode(secret), otpauthUri: otpauthUri({ issuer: TOTP_ISSUER, account: user.name, secret }) };
    secret.fill(0);
    return result;
  }

  /** Confirms enrollment with a first code and turns the session into a full, MFA-present one. */
  async confirmEnrollment(principal: Principal, code: string, sourceIp: string): Promise<LoginResult> {
    const now = this.clock.now();
    const user = await this.users.findById(principal.userId);
    if (user === undefined || user.totp_secret_sealed === null) {
      throw new IdentityError('CONFLICT', 'Start enrollment first ("POST /api/v1/auth/mfa/enroll").');
    }
    const step = this.checkTotp(user, code, now);
    if (step === undefined) throw new IdentityError('TOTP_INVALID', 'The code does not match; check the device clock and enter the current code.');
    if (!(await this.users.claimTotpStep(user.id, step))) throw new IdentityError('TOTP_REPLAYED', 'That code was already used; wait for the next one.');
    await this.users.update(user.id, { totp_confirmed: 1 });
    await this.store.db.deleteFrom('sessions').where('id', '=', principal.sessionId ?? '').execute();
    await this.onEvent({ kind: 'mfa-enrolled', userId: user.id, userName: user.name, sourceIp });
    return this.issueSession(user, 'full', true, now, sourceIp, this.settings.sessionTtlSeconds * 1000);
  }

  async changePassword(principal: Principal, current: string, next: string): Promise<void> {
    const user = await this.users.findById(principal.userId);
    if (user === undefined || !(await verifyPassword(user.password_hash, current))) {
      throw new IdentityError('LOGIN_FAILED', 'The current password is wrong.');
    }
    checkPassword(next, { mfa: user.totp_confirmed === 1 || this.settings.requireMfa, userName: user.name });
    await this.users.update(user.id, { password_hash: await hashPassword(next), password_changed_at: this.clock.now() });
    // Every other session of the user ends with the old password.
    await this.store.db.deleteFrom('sessions').where('user_id', '=', user.id).where('id', '!=', principal.sessionId ?? '').execute();
  }

  async logout(principal: Principal): Promise<void> {
    if (principal.sessionId !== undefined) await this.store.db.deleteFrom('sessions').where('id', '=', principal.sessionId).execute();
  }

  async authenticate(token: string, _sourceIp: string): Promise<Principal> {
    const now = this.clock.now();
    if (token.startsWith(SESSION_PREFIX)) {
      const row = await this.store.db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select(['sessions.id', 'sessions.scope', 'sessions.mfa_present', 'sessions.expires_at', 'users.id as user_id', 'users.name', 'users.disabled'])
        .where('sessions.token_hash', '=', tokenHash(token))
        .executeTakeFirst();
      if (row === undefined || row.expires_at <= now || row.disabled === 1) throw invalidToken();
      return { type: 'user', id: row.user_id, sessionId: row.id, name: row.name, userId: row.user_id, mfaPresent: row.mfa_present === 1, enrollmentOnly: row.scope !== 'full' };
    }
    if (token.startsWith(APIKEY_PREFIX)) {
      const id = apiKeyIdOf(token);
      if (id === undefined) throw invalidToken();
      const row = await this.store.db
        .selectFrom('api_keys')
        .innerJoin('users', 'users.id', 'api_keys.user_id')
        .select(['api_keys.id', 'api_keys.name', 'api_keys.secret_hash', 'api_keys.expires_at', 'api_keys.revoked_at', 'api_keys.policy_document', 'users.id as user_id', 'users.disabled'])
        .where('api_keys.id', '=', id)
        .executeTakeFirst();
      if (row === undefined || !sameHash(row.secret_hash, tokenHash(token)) || row.revoked_at !== null || row.expires_at <= now || row.disabled === 1) {
        throw invalidToken();
      }
      await this.store.db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', row.id).execute();
      // API keys are for automation: they never count as MFA-present.
      return { type: 'apikey', id: row.id, name: row.name, userId: row.user_id, mfaPresent: false, enrollmentOnly: false, keyPolicy: row.policy_document };
    }
    throw invalidToken();
  }

  /** Drops expired sessions; called periodically. */
  async sweep(): Promise<void> {
    const now = this.clock.now();
    await this.store.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
    await this.store.db.deleteFrom('login_failures').where('at', '<', now - HOUR_MS).execute();
  }
}

function loginFailed(): IdentityError {
  return new IdentityError('LOGIN_FAILED', 'The user name, password or code is wrong.');
}

function invalidToken(): AuthError {
  return new AuthError('AUTH_INVALID', 'The token is invalid, expired or revoked; sign in again ("sightline login").');
}
