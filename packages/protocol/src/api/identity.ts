import { z } from 'zod';
import { safeName, safeText } from '../validators/index.js';

/** Wire schemas for identity and access (`/api/v1/auth`, users, groups, policies, API keys, projects). */

const password = z.string().min(1).max(1024);
const totpCode = z.string().regex(/^\d{6}$/, 'the code is 6 digits');
export const roleName = z.enum(['Admin', 'Operator', 'Developer', 'Auditor', 'ReadOnly']);
/** A project: a DNS label, so it can sit inside an SRN. */
export const projectName = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'a project name is 1-63 of a-z, 0-9 and "-", not starting or ending with "-"')
  .pipe(safeName('project'));
export const projectOrAll = z.union([z.literal('*'), projectName]);
const roleGrant = z.object({ role: roleName, project: projectOrAll }).strict();
const roleGrantView = z.object({ role: z.string(), project: z.string() });
/** A policy document; its full validation happens server-side (policy engine). */
const policyDocument = z.record(z.string(), z.unknown());

export const loginRequest = z
  .object({
    user: z.string().min(1).max(64),
    password,
    totp: totpCode.optional(),
  })
  .strict();
export type LoginRequest = z.infer<typeof loginRequest>;

export const loginResponse = z.object({
  token: z.string(),
  scope: z.enum(['full', 'mfa-enroll']),
  expiresAt: z.string(),
  mfaPresent: z.boolean(),
});
export type LoginResponse = z.infer<typeof loginResponse>;

export const mfaEnrollResponse = z.object({ secret: z.string(), otpauthUri: z.string() });
export const mfaConfirmRequest = z.object({ code: totpCode }).strict();
export const changePasswordRequest = z.object({ currentPassword: password, newPassword: password }).strict();

export const whoamiResponse = z.object({
  type: z.enum(['user', 'apikey', 'device']),
  name: z.string(),
  user: z.string(),
  mfaPresent: z.boolean(),
  roles: z.array(roleGrantView),
  groups: z.array(z.string()),
});

export const userView = z.object({
  name: z.string(),
  mfaEnrolled: z.boolean(),
  disabled: z.boolean(),
  createdAt: z.string(),
  passwordChangedAt: z.string(),
  groups: z.array(z.string()).optional(),
  roles: z.array(roleGrantView).optional(),
  policies: z.array(z.string()).optional(),
});

export const createUserRequest = z
  .object({
    name: safeName('name'),
    /** Omit to have the server generate one (shown once). */
    password: password.optional(),
    roles: z.array(roleGrant).max(50).optional(),
  })
  .strict();
export const createUserResponse = z.object({ user: userView, initialPassword: z.string().optional() });
export const updateUserRequest = z.object({ disabled: z.boolean() }).strict();
export const resetPasswordRequest = z.object({ password: password.optional() }).strict();
export const resetPasswordResponse = z.object({ user: userView, password: z.string().optional() });

export const groupView = z.object({
  name: z.string(),
  description: z.string(),
  createdAt: z.string(),
  members: z.array(z.string()).optional(),
  roles: z.array(roleGrantView).optional(),
  policies: z.array(z.string()).optional(),
});
export const createGroupRequest = z.object({ name: safeName('name'), description: safeText('description', { max: 512 }).default('') }).strict();
export const memberRequest = z.object({ user: z.string().min(1).max(64) }).strict();

export const policyView = z.object({ name: z.string(), description: z.string(), document: z.unknown(), createdAt: z.string(), updatedAt: z.string() });
export const createPolicyRequest = z
  .object({ name: safeName('name'), description: safeText('description', { max: 512 }).default(''), document: policyDocument })
  .strict();
export const updatePolicyRequest = z.object({ description: safeText('description', { max: 512 }).optional(), document: policyDocument }).strict();
export const attachmentRequest = z.object({ principalType: z.enum(['user', 'group']), principal: z.string().min(1).max(64) }).strict();
export const roleGrantRequest = z.object({ principalType: z.enum(['user', 'group']), principal: z.string().min(1).max(64), role: roleName, project: projectOrAll }).strict();

export const simulateRequest = z
  .object({
    user: z.string().min(1).max(64),
    action: z.string().min(1).max(128),
    resource: z.string().min(1).max(512),
    mfaPresent: z.boolean().default(true),
    sourceIp: z.string().min(2).max(64).default('127.0.0.1'),
  })
  .strict();
export const simulateResponse = z.object({
  decision: z.enum(['allow', 'deny']),
  reason: z.enum(['allowed', 'explicit-deny', 'implicit-deny']),
  matched: z
    .object({ policy: z.string(), source: z.record(z.string(), z.unknown()), sid: z.string().optional(), statementIndex: z.number() })
    .optional(),
});

export const apiKeyView = z.object({
  id: z.string(),
  name: z.string(),
  owner: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  scoped: z.boolean(),
  status: z.enum(['active', 'expired', 'revoked']),
});
export const createApiKeyRequest = z
  .object({ name: safeName('name'), expiresInDays: z.number().int().min(1).max(730).default(90), policy: policyDocument.optional() })
  .strict();
export const createApiKeyResponse = z.object({ key: apiKeyView, token: z.string() });

export const projectView = z.object({
  name: z.string(),
  description: z.string(),
  createdAt: z.string(),
  /** Settings (issue 8: output preview, off by default); absent from servers before them. */
  settings: z.object({ outputPreview: z.boolean() }).optional(),
});
export const createProjectRequest = z.object({ name: projectName, description: safeText('description', { max: 512 }).default('') }).strict();

export const errorResponse = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }) });
