import type { Clock } from '../clock.js';
import type { AccessService } from '../access/access.service.js';
import type { Store } from '../storage/store.js';
import type { RootKey } from '../keys/root-key.js';
import { base32Encode, generateTotpSecret, otpauthUri } from '@sightline/core';
import { TOTP_ISSUER, totpSealContext } from './auth.service.js';
import { IdentityError } from './identity-errors.js';
import { checkPassword, generatePassword, hashPassword } from './passwords.js';
import type { UserRepository, UserRow } from './user.repository.js';

export interface UserView {
  name: string;
  mfaEnrolled: boolean;
  disabled: boolean;
  createdAt: string;
  passwordChangedAt: string;
  groups?: string[];
  roles?: { role: string; project: string }[];
  policies?: string[];
}

export interface CreatedUser {
  user: UserView;
  /** Shown once; set only when the server generated it. */
  initialPassword?: string;
  /** Shown once; set only when TOTP was enrolled at creation (the first admin). */
  totp?: { secret: string; otpauthUri: string };
}

export function userView(row: UserRow): UserView {
  return {
    name: row.name,
    mfaEnrolled: row.totp_confirmed === 1,
    disabled: row.disabled === 1,
    createdAt: new Date(row.created_at).toISOString(),
    passwordChangedAt: new Date(row.password_changed_at).toISOString(),
  };
}

export class UserService {
  constructor(
    private readonly store: Store,
    private readonly users: UserRepository,
    private readonly access: AccessService,
    private readonly rootKey: RootKey,
    private readonly clock: Clock,
    private readonly requireMfa: boolean,
  ) {}

  /**
   * Creates a person's account. Without a password one is generated (and
   * returned once). With `enrollTotp` the TOTP seed is created now and
   * returned once (used for the first admin); otherwise the person enrolls
   * at first sign-in.
   */
  async create(input: { name: string; password?: string; enrollTotp?: boolean; roles?: { role: string; project: string }[] }): Promise<CreatedUser> {
    const password = input.password ?? generatePassword();
    checkPassword(password, { mfa: this.requireMfa || input.enrollTotp === true, userName: input.name });
    const now = this.clock.now();
    const passwordHash = await hashPassword(password);
    return this.store.transaction(async () => {
      const row = await this.users.insert({
        name: input.name,
        password_hash: passwordHash,
        password_changed_at: now,
        totp_secret_sealed: null,
        totp_confirmed: 0,
        totp_last_step: 0,
        disabled: 0,
        created_at: now,
      });
      let totp: CreatedUser['totp'];
      if (input.enrollTotp === true) {
        const secret = generateTotpSecret();
        await this.users.update(row.id, { totp_secret_sealed: this.rootKey.seal(secret, totpSealContext(row.id)), totp_confirmed: 1 });
        totp = { secret: base32Encode(secret), otpauthUri: otpauthUri({ issuer: TOTP_ISSUER, account: row.name, secret }) };
        secret.fill(0);
        row.totp_confirmed = 1;
      }
      for (const g of input.roles ?? []) await this.access.grantRole({ type: 'user', id: row.id }, g.role, g.project);
      return {
        user: userView(row),
        ...(input.password === undefined ? { initialPassword: password } : {}),
        ...(totp === undefined ? {} : { totp }),
      };
    });
  }

  async list(): Promise<UserView[]> {
    return (await this.users.list()).map(userView);
  }

  async describe(name: string): Promise<UserView> {
    const row = await this.users.getByName(name);
    const groups = await this.store.db
      .selectFrom('group_members')
      .innerJoin('groups', 'groups.id', 'group_members.group_id')
      .select('groups.name')
      .where('group_members.user_id', '=', row.id)
      .orderBy('groups.name')
      .execute();
    const ref = { type: 'user' as const, id: row.id };
    return { ...userView(row), groups: groups.map((g) => g.name), roles: await this.access.grantsOf(ref), policies: await this.access.attachedTo(ref) };
  }

  async delete(name: string, actorUserId: string): Promise<void> {
    const row = await this.users.getByName(name);
    if (row.id === actorUserId) throw new IdentityError('CONFLICT', 'You cannot delete your own account; ask another administrator.');
    await this.access.deleteGrantsOf({ type: 'user', id: row.id });
    await this.users.delete(row.id);
  }

  async setDisabled(name: string, disabled: boolean, actorUserId: string): Promise<UserView> {
    const row = await this.users.getByName(name);
    if (row.id === actorUserId && disabled) throw new IdentityError('CONFLICT', 'You cannot disable your own account.');
    await this.users.update(row.id, { disabled: disabled ? 1 : 0 });
    if (disabled) await this.store.db.deleteFrom('sessions').where('user_id', '=', row.id).execute();
    return userView({ ...row, disabled: disabled ? 1 : 0 });
  }

  /** Clears TOTP so the person enrolls again at next sign-in (lost phone). */
  async resetMfa(name: string): Promise<UserView> {
    const row = await this.users.getByName(name);
    await this.users.update(row.id, { totp_secret_sealed: null, totp_confirmed: 0 });
    await this.store.db.deleteFrom('sessions').where('user_id', '=', row.id).execute();
    return userView({ ...row, totp_confirmed: 0, totp_secret_sealed: null });
  }

  /** An administrator sets a new password (returned once when generated); sessions end. */
  async resetPassword(name: string, password?: string): Promise<{ user: UserView; password?: string }> {
    const row = await this.users.getByName(name);
    const next = password ?? generatePassword();
    checkPassword(next, { mfa: this.requireMfa || row.totp_confirmed === 1, userName: row.name });
    const now = this.clock.now();
    await this.users.update(row.id, { password_hash: await hashPassword(next), password_changed_at: now });
    await this.users.clearFailures(row.id);
    await this.store.db.deleteFrom('sessions').where('user_id', '=', row.id).execute();
    return { user: userView({ ...row, password_changed_at: now }), ...(password === undefined ? { password: next } : {}) };
  }
}
