import { z } from 'zod';
import { api } from '@sightline/protocol';
import { defineRoute, type Route } from '../http/router.js';
import type { GroupService } from '../identity/group.service.js';
import type { UserRepository } from '../identity/user.repository.js';
import type { AccessService } from './access.service.js';
import type { PrincipalRef } from './access.repository.js';

const okSchema = z.object({ ok: z.literal(true) });
const ok = { ok: true as const };
const policySrn = (ctx: { params: Readonly<Record<string, string>> }) => `srn:sightline::policy/${ctx.params['name'] ?? ''}`;

export function accessRoutes(access: AccessService, users: UserRepository, groups: GroupService): Route[] {
  const principal = async (type: 'user' | 'group', name: string): Promise<PrincipalRef> =>
    type === 'user' ? { type, id: (await users.getByName(name)).id } : { type, id: await groups.idOf(name) };
  return [
    defineRoute({
      method: 'POST',
      path: '/api/v1/policies',
      tag: 'policies',
      summary: 'Create a managed policy (allow/deny statements over actions and SRN patterns)',
      auth: 'authenticated',
      action: 'policy:Create',
      resource: (ctx) => `srn:sightline::policy/${ctx.body.name}`,
      body: api.createPolicyRequest,
      response: api.policyView,
      status: 201,
      handle: (ctx) => access.createPolicy(ctx.body.name, ctx.body.description, ctx.body.document),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/policies',
      tag: 'policies',
      summary: 'List managed policies',
      auth: 'authenticated',
      action: 'policy:List',
      resource: () => 'srn:sightline::policy/*',
      response: z.object({ policies: z.array(api.policyView) }),
      handle: async () => ({ policies: await access.listPolicies() }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/v1/policies/:name',
      tag: 'policies',
      summary: 'Show a policy document',
      auth: 'authenticated',
      action: 'policy:Get',
      resource: policySrn,
      response: api.policyView,
      handle: (ctx) => access.getPolicy(ctx.params['name'] ?? ''),
    }),
    defineRoute({
      method: 'PUT',
      path: '/api/v1/policies/:name',
      tag: 'policies',
      summary: 'Replace a policy document',
      auth: 'authenticated',
      action: 'policy:Update',
      resource: policySrn,
      body: api.updatePolicyRequest,
      response: api.policyView,
      handle: (ctx) => access.updatePolicy(ctx.params['name'] ?? '', ctx.body.description, ctx.body.document),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/policies/:name',
      tag: 'policies',
      summary: 'Delete a policy (and its attachments)',
      auth: 'authenticated',
      action: 'policy:Delete',
      resource: policySrn,
      response: okSchema,
      handle: async (ctx) => {
        await access.deletePolicy(ctx.params['name'] ?? '');
        return ok;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/policies/:name/attachments',
      tag: 'policies',
      summary: 'Attach a policy to a user or group',
      auth: 'authenticated',
      action: 'policy:Attach',
      resource: policySrn,
      body: api.attachmentRequest,
      response: okSchema,
      handle: async (ctx) => {
        await access.attach(ctx.params['name'] ?? '', await principal(ctx.body.principalType, ctx.body.principal));
        return ok;
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/v1/policies/:name/attachments/:type/:principal',
      tag: 'policies',
      summary: 'Detach a policy from a user or group',
      auth: 'authenticated',
      action: 'policy:Detach',
      resource: policySrn,
      response: okSchema,
      handle: async (ctx) => {
        const type = ctx.params['type'] === 'group' ? 'group' : 'user';
        await access.detach(ctx.params['name'] ?? '', await principal(type, ctx.params['principal'] ?? ''));
        return ok;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/roles/grants',
      tag: 'policies',
      summary: 'Grant a built-in role (Admin, Operator, Developer, Auditor, ReadOnly) for a project or all projects',
      auth: 'authenticated',
      action: 'policy:Attach',
      resource: (ctx) => `srn:sightline::policy/${ctx.body.role}`,
      body: api.roleGrantRequest,
      response: okSchema,
      handle: async (ctx) => {
        await access.grantRole(await principal(ctx.body.principalType, ctx.body.principal), ctx.body.role, ctx.body.project);
        return ok;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/roles/revocations',
      tag: 'policies',
      summary: 'Revoke a role grant',
      auth: 'authenticated',
      action: 'policy:Detach',
      resource: (ctx) => `srn:sightline::policy/${ctx.body.role}`,
      body: api.roleGrantRequest,
      response: okSchema,
      handle: async (ctx) => {
        await access.revokeRole(await principal(ctx.body.principalType, ctx.body.principal), ctx.body.role, ctx.body.project);
        return ok;
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/policies/simulate',
      tag: 'policies',
      summary: 'Would this user be allowed this action on this resource? Answers with the deciding statement',
      auth: 'authenticated',
      action: 'policy:Simulate',
      resource: () => 'srn:sightline::policy/*',
      body: api.simulateRequest,
      response: api.simulateResponse,
      handle: async (ctx) => {
        const user = await users.getByName(ctx.body.user);
        const decision = await access.decide(
          { type: 'user', id: user.id, name: user.name, userId: user.id, mfaPresent: ctx.body.mfaPresent, enrollmentOnly: false },
          ctx.body.action,
          ctx.body.resource,
          { sourceIp: ctx.body.sourceIp },
        );
        return 'matched' in decision
          ? { decision: decision.decision, reason: decision.reason, matched: { ...decision.matched, source: { ...decision.matched.source } } }
          : { decision: decision.decision, reason: decision.reason };
      },
    }),
  ];
}
