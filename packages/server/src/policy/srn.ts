import { PolicyError, quote } from "./errors.js";

/**
 * Sightline Resource Names: `srn:sightline:<project>:<type>/<name>`.
 *
 * - Global objects (users, groups, policies, projects, API keys, agent releases) have an
 *   empty project: `srn:sightline::user/alice`.
 * - Everything else belongs to one project: `srn:sightline:prod:device/cam-box-1`.
 * - project: 1–63 of `a-z 0-9 -`, starting and ending with a letter or digit (a DNS label).
 * - name: 1–256 chars, `/`-separated segments of `A-Z a-z 0-9 . _ -`; no empty, `.` or `..` segment.
 * - whole SRN ≤ 512 chars.
 * - A collection (what a List action is checked against) is named `*`:
 *   `srn:sightline:prod:device/*`, and `srn:sightline:*:device/*` for every project.
 *   `*` is a whole project or name, never part of one; only policy patterns whose
 *   project/name are all `*` match a collection (see wildcard.ts).
 */
export const RESOURCE_TYPES = {
  user: "global",
  group: "global",
  policy: "global",
  project: "global",
  apikey: "global",
  release: "global",
  device: "project",
  camera: "project",
  package: "project",
  app: "project",
  key: "project",
  secret: "project",
  artifact: "project",
  "log-group": "project",
  audit: "project",
  "signing-key": "project",
} as const satisfies Record<string, "global" | "project">;

export type ResourceType = keyof typeof RESOURCE_TYPES;

export interface Srn {
  /** `null` for global objects; `*` only in a collection SRN. */
  readonly project: string | null;
  readonly type: ResourceType;
  /** `*` for a collection. */
  readonly name: string;
}

export const SRN_MAX_LENGTH = 512;
export const SRN_NAME_MAX_LENGTH = 256;
const PREFIX = "srn:sightline:";
const PROJECT_RE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

export function isResourceType(value: string): value is ResourceType {
  return Object.hasOwn(RESOURCE_TYPES, value);
}

export function isProjectName(value: string): boolean {
  return PROJECT_RE.test(value);
}

function isName(value: string): boolean {
  return (
    value.length <= SRN_NAME_MAX_LENGTH &&
    value.split("/").every((s) => SEGMENT_RE.test(s) && s !== "." && s !== "..")
  );
}

function invalid(text: string, why: string): PolicyError {
  return new PolicyError(
    "SRN_INVALID",
    `${quote(text)} is not a valid resource name: ${why}. Expected srn:sightline:<project>:<type>/<name>.`,
    { details: { reason: why } },
  );
}

/** Parse and validate an SRN; throws `SRN_INVALID`. */
export function parseSrn(text: string): Srn {
  if (text.length > SRN_MAX_LENGTH)
    throw invalid(text, `longer than ${SRN_MAX_LENGTH} characters`);
  if (!text.startsWith(PREFIX))
    throw invalid(text, `must start with "${PREFIX}"`);
  const rest = text.slice(PREFIX.length);
  const colon = rest.indexOf(":");
  const slash = rest.indexOf("/", colon);
  if (colon < 0 || slash < 0) throw invalid(text, 'missing ":<type>/<name>"');
  const project = rest.slice(0, colon);
  const type = rest.slice(colon + 1, slash);
  const name = rest.slice(slash + 1);
  if (!isResourceType(type))
    throw invalid(text, `unknown resource type ${quote(type)}`);
  if (RESOURCE_TYPES[type] === "global") {
    if (project !== "")
      throw invalid(text, `${type} is global, so the project must be empty`);
  } else if (project === "") {
    throw invalid(
      text,
      `${type} belongs to a project, so the project must not be empty`,
    );
  } else if (project === "*") {
    if (name !== "*")
      throw invalid(
        text,
        'project "*" is allowed only in a collection (name "*")',
      );
  } else if (!isProjectName(project)) {
    throw invalid(
      text,
      'the project must be 1–63 of a-z, 0-9 and "-", not starting or ending with "-"',
    );
  }
  if (name !== "*" && !isName(name)) {
    throw invalid(
      text,
      `the name must be 1–${SRN_NAME_MAX_LENGTH} of A-Z a-z 0-9 . _ - in "/"-separated segments`,
    );
  }
  return Object.freeze({
    project: project === "" ? null : project,
    type,
    name,
  });
}

/** Format an SRN, validating it as `parseSrn` does. */
export function formatSrn(srn: Srn): string {
  const text = `${PREFIX}${srn.project ?? ""}:${srn.type}/${srn.name}`;
  parseSrn(text);
  return text;
}

/** The SRN a List action is checked against: all `type`s in `project` (`*`: every project; `null`: global). */
export function collectionSrn(
  type: ResourceType,
  project: string | null,
): string {
  return formatSrn({ project, type, name: "*" });
}

/**
 * Why a policy resource pattern is invalid, or undefined if it is valid. A pattern is `*`
 * (everything) or an SRN whose project and `<type>/<name>` may hold `*` and `?`.
 */
export function resourcePatternProblem(pattern: string): string | undefined {
  if (pattern === "*") return undefined;
  if (!pattern.startsWith(PREFIX))
    return `must be "*" or start with "${PREFIX}"`;
  const rest = pattern.slice(PREFIX.length);
  const colon = rest.indexOf(":");
  if (colon < 0)
    return "must have the form srn:sightline:<project>:<type>/<name>";
  const project = rest.slice(0, colon);
  const tail = rest.slice(colon + 1);
  if (!/^[a-z0-9*?-]*$/.test(project))
    return 'the project may hold only a-z, 0-9, "-", "*" and "?"';
  if (!/^[A-Za-z0-9._/*?-]+$/.test(tail))
    return "the <type>/<name> may hold only A-Z a-z 0-9 . _ - / * ?";
  const slash = tail.indexOf("/");
  const type = slash < 0 ? tail : tail.slice(0, slash);
  if (/[*?]/.test(type)) return undefined;
  if (slash < 0) return 'needs "/<name>" after the type';
  if (!isResourceType(type)) return `unknown resource type ${quote(type)}`;
  if (
    !/[*?]/.test(project) &&
    (RESOURCE_TYPES[type] === "global") !== (project === "")
  ) {
    return RESOURCE_TYPES[type] === "global"
      ? `${type} is global: leave the project empty (srn:sightline::${type}/...)`
      : `${type} belongs to a project: name one or use "*"`;
  }
  return undefined;
}
