import type { ResourceType } from "./srn.js";
import { matches } from "./wildcard.js";

/**
 * - `metadata`: names, states and settings (Get/List); never secret values, video, log or audit content.
 * - `content`: reads the data itself (secret values, video output, artifact bytes, log and audit entries).
 * - `write`: changes state or uses a key (as IAM classes kms:Decrypt as Write).
 */
export type ActionAccess = "metadata" | "content" | "write";

export interface ActionInfo {
  readonly description: string;
  /** The resource type a request for this action names. */
  readonly resource: ResourceType;
  readonly access: ActionAccess;
}

const m = (resource: ResourceType, description: string): ActionInfo => ({
  resource,
  access: "metadata",
  description,
});
const c = (resource: ResourceType, description: string): ActionInfo => ({
  resource,
  access: "content",
  description,
});
const w = (resource: ResourceType, description: string): ActionInfo => ({
  resource,
  access: "write",
  description,
});

/** Every action Sightline authorizes. Routes name actions by these keys (`ActionName`). */
export const ACTIONS = {
  "user:Create": w("user", "Create a user"),
  "user:Get": m("user", "Show a user"),
  "user:List": m("user", "List users"),
  "user:Update": w("user", "Change a user (name, password, status)"),
  "user:Delete": w("user", "Delete a user"),
  "user:ResetMfa": w("user", "Reset a user's MFA enrolment"),

  "group:Create": w("group", "Create a group"),
  "group:Get": m("group", "Show a group and its members"),
  "group:List": m("group", "List groups"),
  "group:Update": w("group", "Change a group"),
  "group:Delete": w("group", "Delete a group"),
  "group:AddMember": w("group", "Add a user to a group"),
  "group:RemoveMember": w("group", "Remove a user from a group"),

  "policy:Create": w("policy", "Create a policy"),
  "policy:Get": m("policy", "Show a policy document"),
  "policy:List": m("policy", "List policies"),
  "policy:Update": w("policy", "Change a policy document"),
  "policy:Delete": w("policy", "Delete a policy"),
  "policy:Attach": w(
    "policy",
    "Attach a policy or role to a user, group or API key",
  ),
  "policy:Detach": w("policy", "Detach a policy or role"),
  "policy:Simulate": m(
    "policy",
    "Show what policies decide for a principal, action and resource",
  ),

  "apikey:Create": w("apikey", "Create an API key"),
  "apikey:List": m("apikey", "List API keys (never their secrets)"),
  "apikey:Revoke": w("apikey", "Revoke an API key"),

  "project:Create": w("project", "Create a project"),
  "project:Get": m("project", "Show a project"),
  "project:List": m("project", "List projects"),
  "project:Delete": w("project", "Delete a project"),
  "project:UpdateSettings": w(
    "project",
    "Change a project's settings (whether app outputs may be previewed)",
  ),

  "device:Provision": w(
    "device",
    "Provision a device and create its configuration archive",
  ),
  "device:Get": m("device", "Show a device"),
  "device:List": m("device", "List devices"),
  "device:Update": w("device", "Change device settings"),
  "device:Deregister": w(
    "device",
    "Deregister a device and revoke its certificate",
  ),
  "device:Reset": w("device", "Full reset: crypto-erase and wipe a device"),
  "device:Reboot": w("device", "Reboot a device"),
  "device:UpdateSoftware": w(
    "device",
    "Install a software release on a device",
  ),
  "device:ViewOutput": c(
    "device",
    "View a device's app output: the local video output, and the console's preview relay where the project allows it",
  ),

  "camera:Create": w(
    "camera",
    "Create a camera (data source) and store its credentials",
  ),
  "camera:Get": m("camera", "Show a camera (never its credentials)"),
  "camera:List": m("camera", "List cameras"),
  "camera:Update": w("camera", "Change a camera or its credentials"),
  "camera:Delete": w("camera", "Delete a camera"),

  "package:Push": w("package", "Push a package version"),
  "package:Get": m("package", "Show a package and its versions"),
  "package:List": m("package", "List packages"),
  "package:Delete": w("package", "Delete a package or version"),
  "package:SetPolicy": w(
    "package",
    "Set which signing keys packages must be signed by",
  ),

  "app:Deploy": w("app", "Deploy or replace an app on devices"),
  "app:Get": m("app", "Show an app instance and its deployment"),
  "app:List": m("app", "List app instances"),
  "app:Remove": w("app", "Remove an app from devices"),
  "app:Pause": w("app", "Pause an app (camera input)"),
  "app:Resume": w("app", "Resume a paused app"),

  "key:Create": w("key", "Create a customer-managed key"),
  "key:Get": m("key", "Show key metadata"),
  "key:List": m("key", "List keys"),
  "key:Rotate": w("key", "Rotate a key"),
  "key:Enable": w("key", "Enable a key"),
  "key:Disable": w("key", "Disable a key"),
  "key:ScheduleDeletion": w("key", "Schedule a key for deletion"),
  "key:CancelDeletion": w("key", "Cancel a scheduled key deletion"),
  "key:Use": w("key", "Encrypt, decrypt or wrap data keys with a key"),

  "secret:Create": w("secret", "Create a secret"),
  "secret:Get": m("secret", "Show secret metadata (never the value)"),
  "secret:List": m("secret", "List secrets"),
  "secret:Rotate": w("secret", "Store a new secret value"),
  "secret:Delete": w("secret", "Delete a secret"),
  "secret:ReadValue": c("secret", "Read a secret value"),

  "artifact:Put": w("artifact", "Upload an artifact"),
  "artifact:Get": c("artifact", "Download an artifact"),
  "artifact:List": m("artifact", "List artifacts"),
  "artifact:Delete": w("artifact", "Delete an artifact"),

  "logs:Read": c("log-group", "Read log entries"),
  "logs:Write": w("log-group", "Write log entries"),
  "logs:ListGroups": m("log-group", "List log groups"),
  "logs:CreateGroup": w("log-group", "Create a log group"),
  "logs:UpdateGroup": w("log-group", "Change a log group (key, retention)"),

  "audit:Read": c("audit", "Read the audit trail and its proofs"),
  "audit:Prune": w("audit", "Run the retention job now: drop exported periods older than audit.retentionDays"),

  "release:Publish": w("release", "Publish an agent software release"),
  "release:List": m("release", "List agent software releases"),

  "signing-key:Create": w("signing-key", "Register a package signing key"),
  "signing-key:List": m("signing-key", "List package signing keys"),
  "signing-key:Delete": w("signing-key", "Remove a package signing key"),
} as const satisfies Record<string, ActionInfo>;

export type ActionName = keyof typeof ACTIONS;

export const ACTION_NAMES = Object.freeze(Object.keys(ACTIONS) as ActionName[]);

export function isActionName(value: string): value is ActionName {
  return Object.hasOwn(ACTIONS, value);
}

export function isWriteAction(action: ActionName): boolean {
  return ACTIONS[action].access === "write";
}

/** Catalogue actions a pattern (`device:*`, `*:Get`, `*`) matches. */
export function actionsMatching(pattern: string): ActionName[] {
  return ACTION_NAMES.filter((a) => matches(pattern, a));
}

/** Why an action pattern is invalid, or undefined: it must be well formed and match a catalogue action. */
export function actionPatternProblem(pattern: string): string | undefined {
  if (pattern !== "*" && !/^[a-z*?-]+:[A-Za-z*?]+$/.test(pattern)) {
    return 'must be "*" or "<service>:<Verb>" (letters, "-", "*", "?")';
  }
  return actionsMatching(pattern).length === 0
    ? "matches no known action"
    : undefined;
}
