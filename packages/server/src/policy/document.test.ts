import { test } from "node:test";
import { strict as assert } from "node:assert";
import {
  parsePolicyDocument,
  parsePolicyJson,
  POLICY_LIMITS,
} from "./document.js";
import type { PolicyError } from "./errors.js";

const statement = {
  effect: "allow",
  actions: ["device:Get"],
  resources: ["srn:sightline:prod:device/*"],
};
const doc = (...statements: unknown[]) => ({
  version: "2026-01-01",
  statements,
});

function rejects(input: unknown, path: string, problem?: RegExp): void {
  assert.throws(
    () => parsePolicyDocument(input),
    (err: PolicyError) => {
      assert.equal(err.code, "POLICY_INVALID");
      assert.equal(err.details?.["path"], path);
      if (problem !== undefined)
        assert.match(String(err.details?.["problem"]), problem);
      assert.ok(err.message.includes(path));
      return true;
    },
  );
}

test("a good document parses and comes back frozen", () => {
  const d = parsePolicyDocument(
    doc({
      sid: "Ops",
      effect: "deny",
      actions: ["device:*", "camera:Get", "*:List", "*"],
      resources: [
        "srn:sightline:prod:device/*",
        "srn:sightline::user/alice",
        "*",
        "srn:sightline:*:*",
      ],
      conditions: { mfaPresent: true, sourceIp: ["10.0.0.0/8", "::1/128"] },
    }),
  );
  assert.equal(d.statements[0]?.effect, "deny");
  assert.ok(Object.isFrozen(d) && Object.isFrozen(d.statements[0]?.actions));
  assert.equal(
    parsePolicyJson(JSON.stringify(doc(statement))).statements.length,
    1,
  );
});

test("bad documents are rejected naming the JSON path", () => {
  rejects(
    doc(statement, statement, { ...statement, actions: ["device:Fly"] }),
    "statements[2].actions[0]",
    /no known action/,
  );
  rejects(
    doc({ ...statement, actions: ["device:Get", "Device:*"] }),
    "statements[0].actions[1]",
  );
  rejects(
    doc({ ...statement, actions: ["device"] }),
    "statements[0].actions[0]",
  );
  rejects(
    doc({ ...statement, resources: ["arn:aws:s3:::bucket"] }),
    "statements[0].resources[0]",
  );
  rejects(
    doc({ ...statement, resources: ["srn:sightline:prod:user/*"] }),
    "statements[0].resources[0]",
    /global/,
  );
  rejects(
    doc({ ...statement, resources: ["srn:sightline::device/*"] }),
    "statements[0].resources[0]",
    /project/,
  );
  rejects(
    doc({ ...statement, resources: ["srn:sightline:prod:gizmo/*"] }),
    "statements[0].resources[0]",
    /unknown resource type/,
  );
  rejects(
    doc({
      ...statement,
      conditions: { sourceIp: ["10.0.0.0/8", "10.0.0.1/8"] },
    }),
    "statements[0].conditions.sourceIp[1]",
  );
  rejects(
    doc({ ...statement, conditions: { mfaPresent: "yes" } }),
    "statements[0].conditions.mfaPresent",
  );
  rejects(
    doc({ ...statement, conditions: { region: "eu" } }),
    "statements[0].conditions",
  );
  rejects(doc({ ...statement, effect: "Allow" }), "statements[0].effect");
  rejects(doc({ ...statement, notActions: ["*"] }), "statements[0]");
  rejects(doc({ ...statement, actions: [] }), "statements[0].actions");
  rejects(doc({ ...statement, sid: "a b" }), "statements[0].sid");
  rejects(
    doc({ ...statement, sid: "A" }, { ...statement, sid: "A" }),
    "statements[1].sid",
    /duplicate/,
  );
  rejects({ version: "2012-10-17", statements: [statement] }, "version");
  rejects(doc(), "statements");
  rejects(null, "(document)");
  assert.throws(() => parsePolicyJson('{"version":'), {
    code: "POLICY_INVALID",
  });
});

test("caps are enforced", () => {
  const many = <T>(n: number, f: (i: number) => T): T[] =>
    Array.from({ length: n }, (_, i) => f(i));
  rejects(
    doc(...many(POLICY_LIMITS.statements + 1, () => statement)),
    "statements",
  );
  rejects(
    doc({ ...statement, actions: many(101, () => "device:Get") }),
    "statements[0].actions",
  );
  rejects(
    doc({
      ...statement,
      resources: many(101, (i) => `srn:sightline:p:device/d${i}`),
    }),
    "statements[0].resources",
  );
  rejects(
    doc({
      ...statement,
      resources: [`srn:sightline:p:device/${"x".repeat(500)}`],
    }),
    "statements[0].resources[0]",
  );
  // Each part within its cap, the whole over 32 KiB.
  const big = doc(
    ...many(80, (i) => ({
      ...statement,
      sid: `S${i}`,
      resources: many(
        10,
        (j) => `srn:sightline:p:device/${"d".repeat(40)}${j}`,
      ),
    })),
  );
  assert.ok(JSON.stringify(big).length > POLICY_LIMITS.documentBytes);
  rejects(big, "(document)", /bytes/);
  assert.throws(
    () => parsePolicyJson(" ".repeat(POLICY_LIMITS.documentBytes + 1)),
    /bytes/,
  );
  // At the caps exactly is fine.
  parsePolicyDocument(doc(...many(100, () => statement)));
  parsePolicyDocument(
    doc({ ...statement, actions: many(100, () => "device:Get") }),
  );
});
