import { z } from 'zod';
import { api, safeName } from '@sightline/protocol';
import { defineRoute, type Principal, type Route } from '../http/router.js';
import type { AccessService } from '../access/access.service.js';
import type { ApiKeyService } from './apikey.service.js';
import type { AuthService } from './auth.service.js';
import type { GroupService } from './group.service.js';
import type { UserService } from './user.service.js';
import type { UserRepository } from './user.repository.js';

const nameParam = (kind: string) => (ctx: { params: Readonly<Record<string, string>> }) => `srn:sightline::${kind}/${ctx.params['name'] ?? ''}`;
const collection = (kind: string) => () => `srn:sightline::${kind}/*`;

export function screenedName(name: string): string {
  try {
    safeName('user').parse(name);
    return name;
  } catch {
    return '[invalid-name]';
  }
}

function me(p: Principal | undefined): Principal {
  if (p === undefined) throw new Error('route requires a principal');
  return p;
}

export function authRoutes(auth: AuthService, users: UserService, userRepo: UserRepository, access: AccessService): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/login',
      auditAction: 'auth:Login',
      tag: 'auth',
      summary: 'Sign in with password and TOTP code; returns a short-lived session token',
      auth: 'public',
      transactional: false,
      body: api.loginRequest,
      response: api.loginResponse,
      // The user name typed at sign-in is unscreened free text from anyone: it reaches the
      // trail only when it is a valid, screened name (someone may type their e-mail address).
      resource: (ctx) => `srn:sightline::user/${screenedName(ctx.body.user)}`,
      secretFields: ['password', 'totp', 'user'],
      handle: (ctx) => auth.login(ctx.body.user, ctx.body.password, ctx.body.totp, ctx.sourceIp),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/mfa/enroll',
      auditAction: 'auth:EnrollMfa',
      tag: 'auth',
      summary: 'Start TOTP enrollment: returns the secret and otpauth URI once',
      auth: 'enrollment',
      response: api.mfaEnrollResponse,
      handle: (ctx) => auth.beginEnrollment(me(ctx.principal)),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/mfa/confirm',
      auditAction: 'auth:ConfirmMfa',
      tag: 'auth',
      summary: 'Confirm TOTP enrollment with a first code; returns a full session',
      auth: 'enrollment',
      body: api.mfaConfirmRequest,
      response: api.loginResponse,
      secretFields: ['code'],
      handle: (ctx) => auth.confirmEnrollment(me(ctx.principal), ctx.body.code, ctx.sourceIp),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/logout',
      auditAction: 'auth:Logout',
      tag: 'auth',
      summary: 'End this session',
      auth: 'enrollment',
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await auth.logout(me(ctx.principal));
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/auth/password',
      auditAction: 'auth:ChangePassword',
      tag: 'auth',
      summary: 'Change your own password (ends your other sessions)',
      auth: 'authenticated',
      body: api.changePasswordRequest,
      secretFields: ['currentPassword', 'newPassword'],
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await auth.changePassword(me(ctx.principal), ctx.body.currentPassword, ctx.body.newPassword);
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/auth/whoami',
      auditAction: 'auth:WhoAmI',
      tag: 'auth',
      summary: 'Who the caller is, with roles and groups',
      auth: 'authenticated',
      response: api.whoamiResponse,
      handle: async (ctx) => {
        const p = me(ctx.principal);
        const row = await userRepo.findById(p.userId);
        const d = await users.describe(row?.name ?? '');
        return { type: p.type, name: p.name, user: d.name, mfaPresent: p.mfaPresent, roles: await access.grantsOf({ type: 'user', id: p.userId }), groups: d.groups ?? [] };
      },
    }),
  ];
}

export function userRoutes(users: UserService): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/users',
      tag: 'users',
      summary: 'Create a user; a generated password is returned once',
      auth: 'authenticated',
      action: 'user:Create',
      resource: (ctx) => `srn:sightline::user/${ctx.body.name}`,
      body: api.createUserRequest,
      response: api.createUserResponse,
      status: 201,
      secretFields: ['password'],
      handle: async (ctx) => {
        const created = await users.create({
          name: ctx.body.name,
          ...(ctx.body.password === undefined ? {} : { password: ctx.body.password }),
          ...(ctx.body.roles === undefined ? {} : { roles: ctx.body.roles }),
        });
        return { user: created.user, ...(created.initialPassword === undefined ? {} : { initialPassword: created.initialPassword }) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/users',
      tag: 'users',
      summary: 'List users',
      auth: 'authenticated',
      action: 'user:List',
      resource: collection('user'),
      response: z.object({ users: z.array(api.userView) }),
      handle: async () => ({ users: await users.list() }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/users/:name',
      tag: 'users',
      summary: 'Describe a user with groups, roles and policies',
      auth: 'authenticated',
      action: 'user:Get',
      resource: nameParam('user'),
      response: api.userView,
      handle: (ctx) => users.describe(ctx.params['name'] ?? ''),
    }),
    defineRoute({
      method: 'PATCH',
      path: '/api/v1/users/:name',
      tag: 'users',
      summary: 'Disable or enable a user',
      auth: 'authenticated',
      action: 'user:Update',
      resource: nameParam('user'),
      body: api.updateUserRequest,
      response: api.userView,
      handle: (ctx) => users.setDisabled(ctx.params['name'] ?? '', ctx.body.disabled, me(ctx.principal).userId),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/users/:name',
      tag: 'users',
      summary: 'Delete a user',
      auth: 'authenticated',
      action: 'user:Delete',
      resource: nameParam('user'),
      response: z.object({ ok: z.literal(true) }),
      handle: async (ctx) => {
        await users.delete(ctx.params['name'] ?? '', me(ctx.principal).userId);
        return { ok: true as const };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/users/:name/reset-mfa',
      tag: 'users',
      summary: 'Clear a user\'s TOTP so they enroll again at next sign-in',
      auth: 'authenticated',
      action: 'user:ResetMfa',
      resource: nameParam('user'),
      response: api.userView,
      handle: (ctx) => users.resetMfa(ctx.params['name'] ?? ''),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/users/:name/reset-password',
      tag: 'users',
      summary: 'Set a new password for a user (generated and shown once if omitted)',
      auth: 'authenticated',
      action: 'user:Update',
      resource: nameParam('user'),
      body: api.resetPasswordRequest,
      response: api.resetPasswordResponse,
      secretFields: ['password'],
      handle: (ctx) => users.resetPassword(ctx.params['name'] ?? '', ctx.body.password),
    }),
  ];
}

export function groupRoutes(groups: GroupService): Route[] {
  const ok = { ok: true as const };
  const okSchema = z.object({ ok: z.literal(true) });
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/groups',
      tag: 'groups',
      summary: 'Create a group',
      auth: 'authenticated',
      action: 'group:Create',
      resource: (ctx) => `srn:sightline::group/${ctx.body.name}`,
      body: api.createGroupRequest,
      response: api.groupView,
      status: 201,
      handle: (ctx) => groups.create(ctx.body.name, ctx.body.description),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/groups',
      tag: 'groups',
      summary: 'List groups',
      auth: 'authenticated',
      action: 'group:List',
      resource: collection('group'),
      response: z.object({ groups: z.array(api.groupView) }),
      handle: async () => ({ groups: await groups.list() }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/groups/:name',
      tag: 'groups',
      summary: 'Describe a group with members, roles and policies',
      auth: 'authenticated',
      action: 'group:Get',
      resource: nameParam('group'),
      response: api.groupView,
      handle: (ctx) => groups.describe(ctx.params['name'] ?? ''),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/groups/:name',
      tag: 'groups',
      summary: 'Delete a group',
      auth: 'authenticated',
      action: 'group:Delete',
      resource: nameParam('group'),
      response: okSchema,
      handle: async (ctx) => {
        await groups.delete(ctx.params['name'] ?? '');
        return ok;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/groups/:name/members',
      tag: 'groups',
      summary: 'Add a user to a group',
      auth: 'authenticated',
      action: 'group:AddMember',
      resource: nameParam('group'),
      body: api.memberRequest,
      response: okSchema,
      handle: async (ctx) => {
        await groups.addMember(ctx.params['name'] ?? '', ctx.body.user);
        return ok;
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/groups/:name/members/:user',
      tag: 'groups',
      summary: 'Remove a user from a group',
      auth: 'authenticated',
      action: 'group:RemoveMember',
      resource: nameParam('group'),
      response: okSchema,
      handle: async (ctx) => {
        await groups.removeMember(ctx.params['name'] ?? '', ctx.params['user'] ?? '');
        return ok;
      },
    }),
  ];
}

export function apiKeyRoutes(keys: ApiKeyService): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/apikeys',
      tag: 'apikeys',
      summary: 'Create an API key for yourself; the token is returned once and stored only as a hash',
      auth: 'authenticated',
      action: 'apikey:Create',
      resource: (ctx) => `srn:sightline::apikey/${ctx.principal?.name ?? ''}/${ctx.body.name}`,
      body: api.createApiKeyRequest,
      response: api.createApiKeyResponse,
      status: 201,
      handle: (ctx) => {
        const p = me(ctx.principal);
        return keys.create(p.userId, { name: ctx.body.name, expiresInDays: ctx.body.expiresInDays, ...(ctx.body.policy === undefined ? {} : { policy: ctx.body.policy }) });
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/apikeys',
      tag: 'apikeys',
      summary: 'List API keys (never their tokens)',
      auth: 'authenticated',
      action: 'apikey:List',
      resource: collection('apikey'),
      response: z.object({ apiKeys: z.array(api.apiKeyView) }),
      handle: async () => ({ apiKeys: await keys.list() }),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/apikeys/:id',
      tag: 'apikeys',
      summary: 'Revoke an API key at once',
      auth: 'authenticated',
      action: 'apikey:Revoke',
      resource: (ctx) => `srn:sightline::apikey/${ctx.params['id'] ?? ''}`,
      response: api.apiKeyView,
      handle: (ctx) => keys.revoke(ctx.params['id'] ?? ''),
    }),
  ];
}
