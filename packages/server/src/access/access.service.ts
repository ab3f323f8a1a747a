import type { Principal } from '../http/router.js';
import type { Authorizer } from '../http/pipeline.js';
import {
  authorize,
  evaluate,
  isActionName,
  isRoleName,
  parsePolicyDocument,
  parsePolicyJson,
  PolicyError,
  roleDocument,
  type ApplicablePolicy,
  type Decision,
  type PolicyDocument,
} from '../policy/index.js';
import type { Clock } from '../clock.js';
import { AccessError } from './access-errors.js';
import type { AccessRepository, PolicyRow, PrincipalRef } from './access.repository.js';

export interface PolicyView {
  name: string;
  description: string;
  document: unknown;
  createdAt: string;
  updatedAt: string;
}

function view(row: PolicyRow): PolicyView {
  return {
    name: row.name,
    description: row.description,
    document: JSON.parse(row.document) as unknown,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/**
 * Least privilege (seed point 2): managed policies, role grants per project,
 * and the decision for each call. Default deny; an explicit deny anywhere wins.
 */
export class AccessService implements Authorizer {
  private readonly parsedDocs = new Map<string, PolicyDocument>();

  constructor(
    private readonly repo: AccessRepository,
    private readonly clock: Clock,
  ) {}

  async createPolicy(name: string, description: string, document: unknown): Promise<PolicyView> {
    const doc = parsePolicyDocument(document);
    const now = this.clock.now();
    return view(await this.repo.insertPolicy({ name, description, document: JSON.stringify(doc), created_at: now, updated_at: now }));
  }

  async updatePolicy(name: string, description: string | undefined, document: unknown): Promise<PolicyView> {
    const row = await this.repo.getPolicy(name);
    const doc = parsePolicyDocument(document);
    await this.repo.updatePolicy(row.id, JSON.stringify(doc), description ?? row.description, this.clock.now());
    return view(await this.repo.getPolicy(name));
  }

  async getPolicy(name: string): Promise<PolicyView> {
    return view(await this.repo.getPolicy(name));
  }

  async listPolicies(): Promise<PolicyView[]> {
    return (await this.repo.listPolicies()).map(view);
  }

  async deletePolicy(name: string): Promise<void> {
    const row = await this.repo.getPolicy(name);
    await this.repo.deletePolicy(row.id);
  }

  async attach(policyName: string, to: PrincipalRef): Promise<void> {
    const row = await this.repo.getPolicy(policyName);
    await this.repo.attach(row.id, to);
  }

  async detach(policyName: string, from: PrincipalRef): Promise<void> {
    const row = await this.repo.getPolicy(policyName);
    if (!(await this.repo.detach(row.id, from))) throw new AccessError('GRANT_NOT_FOUND', `Policy "${policyName}" is not attached there.`);
  }

  async grantRole(to: PrincipalRef, role: string, project: string): Promise<void> {
    if (!isRoleName(role)) throw new AccessError('ROLE_UNKNOWN', `"${role}" is not a role; use Admin, Operator, Developer, Auditor or ReadOnly.`);
    roleDocument(role, project); // validates the project name
    await this.repo.grantRole(to, role, project, this.clock.now());
  }

  async revokeRole(from: PrincipalRef, role: string, project: string): Promise<void> {
    if (!(await this.repo.revokeRole(from, role, project))) {
      throw new AccessError('GRANT_NOT_FOUND', `Role ${role} for project ${project} is not granted there.`);
    }
  }

  deleteGrantsOf(p: PrincipalRef): Promise<void> {
    return this.repo.deleteGrantsOf(p);
  }

  grantsOf(p: PrincipalRef): Promise<{ role: string; project: string }[]> {
    return this.repo.grantsOf(p).then((rows) => rows.map((r) => ({ role: r.role, project: r.project })));
  }

  attachedTo(p: PrincipalRef): Promise<string[]> {
    return this.repo.attachedTo(p);
  }

  /** Every policy that applies to a user, labelled with where it comes from. */
  async applicablePolicies(userId: string): Promise<ApplicablePolicy[]> {
    const { grants, policies } = await this.repo.effectiveFor(userId);
    const out: ApplicablePolicy[] = [];
    for (const g of grants) {
      if (!isRoleName(g.role)) continue;
      out.push({
        name: g.group_name === null ? `role:${g.role}@${g.project}` : `role:${g.role}@${g.project} via group ${g.group_name}`,
        source: { kind: 'role', role: g.role, project: g.project },
        document: roleDocument(g.role, g.project),
      });
    }
    for (const p of policies) {
      out.push({
        name: p.name,
        source: p.via_type === 'group' ? { kind: 'group', group: p.group_name ?? '' } : { kind: 'attached' },
        document: this.parse(p.document),
      });
    }
    return out;
  }

  private parse(text: string): PolicyDocument {
    let doc = this.parsedDocs.get(text);
    if (doc === undefined) {
      doc = parsePolicyJson(text);
      if (this.parsedDocs.size > 1000) this.parsedDocs.clear();
      this.parsedDocs.set(text, doc);
    }
    return doc;
  }

  /**
   * An API key may do what its owner may do AND what its own policy allows:
   * both decisions must allow (a key can narrow, never widen, its owner).
   */
  async decide(principal: Principal, action: string, resource: string, ctx: { sourceIp: string }): Promise<Decision> {
    if (!isActionName(action)) throw new PolicyError('POLICY_REQUEST_INVALID', `Unknown action ${action}.`);
    const request = { principal, action, resource, context: { mfaPresent: principal.mfaPresent, sourceIp: ctx.sourceIp } };
    const owner = evaluate(request, await this.applicablePolicies(principal.userId));
    if (owner.decision !== 'allow' || principal.type !== 'apikey' || principal.keyPolicy == null) return owner;
    const scoped = evaluate(request, [{ name: `apikey:${principal.name}`, source: { kind: 'attached' }, document: this.parse(principal.keyPolicy) }]);
    return scoped.decision === 'allow' ? owner : scoped;
  }

  async authorize(principal: Principal, action: string, resource: string, ctx: { sourceIp: string }): Promise<void> {
    if (!isActionName(action)) throw new PolicyError('POLICY_REQUEST_INVALID', `Unknown action ${action}.`);
    const request = { principal, action, resource, context: { mfaPresent: principal.mfaPresent, sourceIp: ctx.sourceIp } };
    authorize(request, await this.applicablePolicies(principal.userId));
    if (principal.type === 'apikey' && principal.keyPolicy != null) {
      authorize(request, [{ name: `apikey:${principal.name}`, source: { kind: 'attached' }, document: this.parse(principal.keyPolicy) }]);
    }
  }
}
