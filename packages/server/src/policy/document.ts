import { z } from "zod";
import { actionPatternProblem } from "./actions.js";
import { parseCidr } from "./cidr.js";
import { PolicyError } from "./errors.js";
import { resourcePatternProblem } from "./srn.js";

/** Hard caps on documents read from outside (STYLE: size caps on everything read from outside). */
export const POLICY_LIMITS = Object.freeze({
  statements: 100,
  actions: 100,
  resources: 100,
  sourceIps: 100,
  stringLength: 512,
  sidLength: 64,
  documentBytes: 32 * 1024,
});

export const POLICY_VERSION = "2026-01-01";

const str = z.string().max(POLICY_LIMITS.stringLength);
const refined = (problem: (s: string) => string | undefined) =>
  str.superRefine((value, ctx) => {
    const why = problem(value);
    if (why !== undefined) ctx.addIssue({ code: "custom", message: why });
  });

const statementSchema = z.strictObject({
  sid: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "may hold only A-Z a-z 0-9 _ -")
    .max(POLICY_LIMITS.sidLength)
    .optional(),
  effect: z.enum(["allow", "deny"]),
  actions: z
    .array(refined(actionPatternProblem))
    .min(1)
    .max(POLICY_LIMITS.actions),
  resources: z
    .array(refined(resourcePatternProblem))
    .min(1)
    .max(POLICY_LIMITS.resources),
  conditions: z
    .strictObject({
      /** Holds when the request's MFA state equals this (false: only requests without MFA). */
      mfaPresent: z.boolean().optional(),
      /** Holds when the source address is in any of these blocks. */
      sourceIp: z
        .array(
          refined((s) => {
            const c = parseCidr(s);
            return typeof c === "string" ? c : undefined;
          }),
        )
        .min(1)
        .max(POLICY_LIMITS.sourceIps)
        .optional(),
    })
    .optional(),
});

const documentSchema = z
  .strictObject({
    version: z.literal(POLICY_VERSION),
    statements: z.array(statementSchema).min(1).max(POLICY_LIMITS.statements),
  })
  .superRefine((doc, ctx) => {
    const seen = new Set<string>();
    doc.statements.forEach((s, i) => {
      if (s.sid === undefined) return;
      if (seen.has(s.sid))
        ctx.addIssue({
          code: "custom",
          message: "duplicate sid",
          path: ["statements", i, "sid"],
        });
      seen.add(s.sid);
    });
  });

type DeepReadonly<T> = T extends (infer E)[]
  ? readonly DeepReadonly<E>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;
declare const validated: unique symbol;

/** A validated, frozen policy document. Only `parsePolicyDocument` and `parsePolicyJson` make one. */
export type PolicyDocument = DeepReadonly<z.infer<typeof documentSchema>> & {
  readonly [validated]: true;
};
export type PolicyStatement = PolicyDocument["statements"][number];

/** `statements[2].actions[0]` */
export function formatPath(path: readonly PropertyKey[]): string {
  return (
    path
      .map((k, i) =>
        typeof k === "number"
          ? `[${k}]`
          : i === 0
            ? String(k)
            : `.${String(k)}`,
      )
      .join("") || "(document)"
  );
}

function invalid(
  path: string,
  problem: string,
  issues?: { path: string; problem: string }[],
): PolicyError {
  return new PolicyError(
    "POLICY_INVALID",
    `Policy document is invalid at ${path}: ${problem}. Fix it and try again.`,
    {
      details: { path, problem, ...(issues === undefined ? {} : { issues }) },
    },
  );
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

/** Validate a policy document (a parsed JSON value); throws `POLICY_INVALID` naming the JSON path. */
export function parsePolicyDocument(input: unknown): PolicyDocument {
  let size: number;
  try {
    size = Buffer.byteLength(JSON.stringify(input) ?? "", "utf8");
  } catch {
    throw invalid("(document)", "is not JSON data");
  }
  if (size > POLICY_LIMITS.documentBytes) {
    throw invalid(
      "(document)",
      `is ${size} bytes; the limit is ${POLICY_LIMITS.documentBytes}`,
    );
  }
  const result = documentSchema.safeParse(input);
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 20)
      .map((i) => ({ path: formatPath(i.path), problem: i.message }));
    const first = issues[0] ?? { path: "(document)", problem: "is invalid" };
    throw invalid(first.path, first.problem, issues);
  }
  // The brand is a type-only mark: this is the one place a document becomes "validated".
  return deepFreeze(result.data) as unknown as PolicyDocument;
}

/** Validate a policy document given as JSON text; the size cap is checked before parsing. */
export function parsePolicyJson(text: string): PolicyDocument {
  const size = Buffer.byteLength(text, "utf8");
  if (size > POLICY_LIMITS.documentBytes) {
    throw invalid(
      "(document)",
      `is ${size} bytes; the limit is ${POLICY_LIMITS.documentBytes}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new PolicyError(
      "POLICY_INVALID",
      "Policy document is not valid JSON. Fix it and try again.",
      {
        cause,
        details: { path: "(document)", problem: "is not valid JSON" },
      },
    );
  }
  return parsePolicyDocument(value);
}
