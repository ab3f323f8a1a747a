import { SightlineError } from "@sightline/core";
import type { Decision } from "./evaluate.js";

export type PolicyErrorCode =
  "SRN_INVALID" | "POLICY_INVALID" | "POLICY_REQUEST_INVALID";

/** A bad SRN, policy document or authorization request. `details` names the field (a JSON path for documents). */
export class PolicyError extends SightlineError<PolicyErrorCode> {}

/**
 * Thrown by `authorize` when a request is not allowed. The message names the action and
 * resource only; `decision` (which policy denied) is for the audit trail, not for the client.
 */
export class AccessDeniedError extends SightlineError<"ACCESS_DENIED"> {
  readonly decision: Decision;

  constructor(action: string, resource: string, decision: Decision) {
    const why =
      decision.reason === "explicit-deny"
        ? "a policy explicitly denies it"
        : "no policy allows it";
    super(
      "ACCESS_DENIED",
      `Access denied: ${action} on ${resource} (${why}). Ask an administrator to grant it; ` +
        "`sightline policy simulate` shows which policy decides.",
      { details: { action, resource, reason: decision.reason } },
    );
    this.decision = decision;
  }
}

/** Quote untrusted text for an error message: JSON-escaped and cut short. */
export function quote(text: string, max = 80): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}
