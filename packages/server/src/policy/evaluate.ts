import { ACTIONS, isActionName, type ActionName } from "./actions.js";
import { cidrContains, parseCidr, parseIp } from "./cidr.js";
import type { PolicyDocument, PolicyStatement } from "./document.js";
import { AccessDeniedError, PolicyError, quote } from "./errors.js";
import type { RoleName } from "./roles.js";
import { parseSrn } from "./srn.js";
import { matches } from "./wildcard.js";

export interface Principal {
  readonly type: "user" | "apikey" | "device";
  readonly id: string;
  readonly name: string;
}

export interface AuthzRequest {
  readonly principal: Principal;
  readonly action: ActionName;
  /** A concrete SRN, or a collection SRN (`.../device/*`) for List actions. */
  readonly resource: string;
  readonly context: { readonly mfaPresent: boolean; readonly sourceIp: string };
}

/** Where a policy applying to the principal comes from; shown by the simulator. */
export type PolicySource =
  | { readonly kind: "attached" }
  | { readonly kind: "group"; readonly group: string }
  | {
      readonly kind: "role";
      readonly role: RoleName;
      readonly project: string;
    };

export interface ApplicablePolicy {
  readonly name: string;
  readonly source: PolicySource;
  readonly document: PolicyDocument;
}

export interface MatchedStatement {
  readonly policy: string;
  readonly source: PolicySource;
  readonly sid?: string;
  readonly statementIndex: number;
}

export type Decision =
  | {
      readonly decision: "allow";
      readonly reason: "allowed";
      readonly matched: MatchedStatement;
    }
  | {
      readonly decision: "deny";
      readonly reason: "explicit-deny";
      readonly matched: MatchedStatement;
    }
  | { readonly decision: "deny"; readonly reason: "implicit-deny" };

function badRequest(field: string, why: string): PolicyError {
  return new PolicyError(
    "POLICY_REQUEST_INVALID",
    `Authorization request has an invalid ${field}: ${why}.`,
    {
      details: { field, problem: why },
    },
  );
}

function applies(
  s: PolicyStatement,
  action: string,
  resource: string,
  ip: Uint8Array,
  mfa: boolean,
): boolean {
  if (!s.actions.some((p) => matches(p, action))) return false;
  if (!s.resources.some((p) => matches(p, resource))) return false;
  const c = s.conditions;
  if (c?.mfaPresent !== undefined && c.mfaPresent !== mfa) return false;
  if (c?.sourceIp !== undefined) {
    const inside = c.sourceIp.some((text) => {
      const cidr = parseCidr(text);
      return typeof cidr !== "string" && cidrContains(cidr, ip);
    });
    if (!inside) return false;
  }
  return true;
}

/**
 * Decide a request against every policy that applies to the principal (IAM's logic):
 * an applicable deny statement anywhere wins; else an applicable allow allows; else deny.
 * A statement applies when one action pattern and one resource pattern match and every
 * condition holds. A malformed request throws (fail closed) rather than deciding.
 */
export function evaluate(
  request: AuthzRequest,
  policies: readonly ApplicablePolicy[],
): Decision {
  const { action, resource, context } = request;
  if (!isActionName(action))
    throw badRequest("action", `${quote(action)} is not a known action`);
  const srn = parseSrn(resource);
  if (srn.type !== ACTIONS[action].resource) {
    throw badRequest(
      "resource",
      `${action} applies to ${ACTIONS[action].resource} resources, not ${srn.type}`,
    );
  }
  // Link-local addresses may carry a zone id (fe80::1%eth0); the zone is not part of the address.
  const ip = parseIp(context.sourceIp.split("%")[0] ?? "");
  if (ip === undefined)
    throw badRequest(
      "context.sourceIp",
      `${quote(context.sourceIp)} is not an IP address`,
    );

  let allow: MatchedStatement | undefined;
  for (const policy of policies) {
    for (const [statementIndex, s] of policy.document.statements.entries()) {
      if (!applies(s, action, resource, ip, context.mfaPresent)) continue;
      const matched: MatchedStatement = {
        policy: policy.name,
        source: policy.source,
        ...(s.sid === undefined ? {} : { sid: s.sid }),
        statementIndex,
      };
      if (s.effect === "deny")
        return { decision: "deny", reason: "explicit-deny", matched };
      allow ??= matched;
    }
  }
  return allow === undefined
    ? { decision: "deny", reason: "implicit-deny" }
    : { decision: "allow", reason: "allowed", matched: allow };
}

/** `evaluate`, throwing `AccessDeniedError` unless allowed; returns the allow decision for the audit trail. */
export function authorize(
  request: AuthzRequest,
  policies: readonly ApplicablePolicy[],
): Decision & { decision: "allow" } {
  const decision = evaluate(request, policies);
  if (decision.decision !== "allow")
    throw new AccessDeniedError(request.action, request.resource, decision);
  return decision;
}
