import { ACTION_NAMES, ACTIONS, type ActionName } from "./actions.js";
import {
  parsePolicyDocument,
  POLICY_VERSION,
  type PolicyDocument,
} from "./document.js";
import { PolicyError, quote } from "./errors.js";
import { isProjectName, RESOURCE_TYPES, type ResourceType } from "./srn.js";

export const ROLE_NAMES = [
  "Admin",
  "Operator",
  "Developer",
  "Auditor",
  "ReadOnly",
] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

const metadata = ACTION_NAMES.filter((a) => ACTIONS[a].access === "metadata");
const ofTypes = (...types: ResourceType[]): ActionName[] =>
  ACTION_NAMES.filter((a) => types.includes(ACTIONS[a].resource));

interface RoleSpec {
  readonly description: string;
  /** Granted on the project's resources; actions on global objects only when granted for all projects. */
  readonly actions: readonly ActionName[];
  /** Global actions granted even for one project: they show no tenant's data. */
  readonly anyProject?: readonly ActionName[];
}

/** Built-in roles: allow-only (a deny would override whatever else the principal is granted). */
export const ROLES: Readonly<Record<RoleName, RoleSpec>> = {
  Admin: {
    description:
      "Everything. For one project: every action on its resources, but no users, groups, policies or other projects.",
    actions: ACTION_NAMES,
  },
  Operator: {
    description:
      "Run the fleet: devices, cameras, app deployments, package and log reading. No identity, key, secret or audit access.",
    actions: [
      ...ofTypes("device", "camera", "app"),
      "package:Get",
      "package:List",
      "logs:Read",
      "logs:ListGroups",
    ],
    anyProject: ["release:List"],
  },
  Developer: {
    description:
      "Build and ship apps: packages, artifacts, signing keys, deploying apps, reading logs; sees devices and cameras to target them.",
    actions: [
      // Not package:SetPolicy: which signers a project trusts is the Admin's call.
      ...ofTypes("package", "artifact", "signing-key").filter(
        (a) => a !== "package:SetPolicy",
      ),
      "app:Deploy",
      "app:Get",
      "app:List",
      "device:Get",
      "device:List",
      "camera:Get",
      "camera:List",
      "logs:Read",
      "logs:ListGroups",
    ],
  },
  Auditor: {
    description:
      "Review: the audit trail, logs, and every Get/List. No writes, secret values, video or artifact downloads.",
    actions: [...metadata, "audit:Read", "logs:Read"],
  },
  ReadOnly: {
    description:
      "Every Get/List (metadata). No writes, secret values, video, artifact downloads, log content or audit trail.",
    actions: metadata,
  },
};

export function isRoleName(value: string): value is RoleName {
  return (ROLE_NAMES as readonly string[]).includes(value);
}

function pascal(type: string): string {
  return type.replace(/(^|-)([a-z])/g, (_, _dash: string, ch: string) =>
    ch.toUpperCase(),
  );
}

/**
 * The policy document of `role` granted for `project` (a project name, or `*` for all).
 * Each statement covers one resource type, so an action is allowed only on resources of
 * the type it is for, and only inside the project: Operator on `a` gets
 * `srn:sightline:a:device/*`, never `srn:sightline:b:...`. Global objects (users, policies,
 * ...) are granted only for `*`; a one-project grant may still Get its own project.
 */
export function roleDocument(role: RoleName, project: string): PolicyDocument {
  if (!isRoleName(role))
    throw new PolicyError(
      "POLICY_INVALID",
      `${quote(role)} is not a built-in role.`,
      { details: { role } },
    );
  if (project !== "*" && !isProjectName(project)) {
    throw new PolicyError(
      "SRN_INVALID",
      `${quote(project)} is not a project name or "*".`,
      { details: { project } },
    );
  }
  const spec = ROLES[role];
  if (role === "Admin" && project === "*") {
    return parsePolicyDocument({
      version: POLICY_VERSION,
      statements: [
        { sid: "Admin", effect: "allow", actions: ["*"], resources: ["*"] },
      ],
    });
  }
  const all = project === "*";
  const byType = new Map<ResourceType, ActionName[]>();
  const add = (a: ActionName): void => {
    const type = ACTIONS[a].resource;
    byType.set(type, [...new Set([...(byType.get(type) ?? []), a])]);
  };
  spec.actions
    .filter((a) => all || RESOURCE_TYPES[ACTIONS[a].resource] === "project")
    .forEach(add);
  spec.anyProject?.forEach(add);
  if (!all) add("project:Get");

  const statements = [...byType].map(([type, actions]) => {
    const global = RESOURCE_TYPES[type] === "global";
    const resource =
      type === "project" && !all
        ? `srn:sightline::project/${project}`
        : `srn:sightline:${global ? "" : project}:${type}/*`;
    return {
      sid: `${role}${pascal(type)}`,
      effect: "allow",
      actions,
      resources: [resource],
    };
  });
  return parsePolicyDocument({ version: POLICY_VERSION, statements });
}
