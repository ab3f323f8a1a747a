import { test } from "node:test";
import { strict as assert } from "node:assert";
import type { ActionName } from "./actions.js";
import { parsePolicyDocument } from "./document.js";
import { AccessDeniedError } from "./errors.js";
import {
  authorize,
  evaluate,
  type ApplicablePolicy,
  type AuthzRequest,
} from "./evaluate.js";

const alice = { type: "user", id: "u-1", name: "alice" } as const;

function req(
  action: ActionName,
  resource: string,
  context: Partial<AuthzRequest["context"]> = {},
): AuthzRequest {
  return {
    principal: alice,
    action,
    resource,
    context: { mfaPresent: true, sourceIp: "10.1.2.3", ...context },
  };
}

function policy(name: string, ...statements: object[]): ApplicablePolicy {
  return {
    name,
    source: { kind: "attached" },
    document: parsePolicyDocument({ version: "2026-01-01", statements }),
  };
}

const allowDevices = {
  sid: "Devices",
  effect: "allow",
  actions: ["device:*"],
  resources: ["srn:sightline:prod:device/*"],
};
const denyReboot = {
  sid: "NoReboot",
  effect: "deny",
  actions: ["device:Reboot"],
  resources: ["*"],
};
const cam = "srn:sightline:prod:device/cam-1";

test("default deny: no policies, or none that matches", () => {
  assert.deepEqual(evaluate(req("device:Get", cam), []), {
    decision: "deny",
    reason: "implicit-deny",
  });
  const p = policy("p", allowDevices);
  assert.equal(
    evaluate(req("camera:Get", "srn:sightline:prod:camera/c"), [p]).reason,
    "implicit-deny",
  );
  assert.equal(
    evaluate(req("device:Get", "srn:sightline:dev:device/cam-1"), [p]).reason,
    "implicit-deny",
  );
});

test("allow names the policy, sid and statement index", () => {
  const p = {
    ...policy(
      "ops",
      { effect: "allow", actions: ["camera:Get"], resources: ["*"] },
      allowDevices,
    ),
    source: { kind: "group", group: "ops" } as const,
  };
  assert.deepEqual(evaluate(req("device:Reboot", cam), [p]), {
    decision: "allow",
    reason: "allowed",
    matched: {
      policy: "ops",
      source: { kind: "group", group: "ops" },
      sid: "Devices",
      statementIndex: 1,
    },
  });
});

test("explicit deny beats allow, within one policy and across two, whatever the order", () => {
  const one = policy("one", allowDevices, denyReboot);
  assert.deepEqual(evaluate(req("device:Reboot", cam), [one]), {
    decision: "deny",
    reason: "explicit-deny",
    matched: {
      policy: "one",
      source: { kind: "attached" },
      sid: "NoReboot",
      statementIndex: 1,
    },
  });
  const allow = policy("allow", allowDevices);
  const deny = policy("deny", {
    effect: "deny",
    actions: ["*"],
    resources: ["srn:sightline:prod:*"],
  });
  for (const order of [
    [allow, deny],
    [deny, allow],
  ]) {
    const d = evaluate(req("device:Get", cam), order);
    assert.equal(d.reason, "explicit-deny");
    assert.equal(
      d.decision === "deny" && d.reason === "explicit-deny"
        ? d.matched.policy
        : "",
      "deny",
    );
  }
  assert.equal(
    evaluate(req("device:Get", cam), [one]).decision,
    "allow",
    "the deny covers only Reboot",
  );
});

test("mfaPresent: a statement applies only when the MFA state matches", () => {
  const p = policy("p", { ...allowDevices, conditions: { mfaPresent: true } });
  assert.equal(
    evaluate(req("device:Get", cam, { mfaPresent: true }), [p]).decision,
    "allow",
  );
  assert.equal(
    evaluate(req("device:Get", cam, { mfaPresent: false }), [p]).reason,
    "implicit-deny",
  );
  const denyNoMfa = policy("mfa", allowDevices, {
    effect: "deny",
    actions: ["*"],
    resources: ["*"],
    conditions: { mfaPresent: false },
  });
  assert.equal(
    evaluate(req("device:Get", cam, { mfaPresent: false }), [denyNoMfa]).reason,
    "explicit-deny",
  );
  assert.equal(
    evaluate(req("device:Get", cam, { mfaPresent: true }), [denyNoMfa])
      .decision,
    "allow",
  );
});

test("sourceIp: IPv4, IPv6 and IPv4-mapped addresses in and out of the blocks", () => {
  const p = policy("p", {
    ...allowDevices,
    conditions: { sourceIp: ["10.0.0.0/8", "2001:db8::/32", "::1/128"] },
  });
  const at = (ip: string) =>
    evaluate(req("device:Get", cam, { sourceIp: ip }), [p]).decision;
  assert.equal(at("10.200.0.1"), "allow");
  assert.equal(at("::ffff:10.200.0.1"), "allow");
  assert.equal(at("2001:db8:1::5"), "allow");
  assert.equal(at("::1"), "allow");
  assert.equal(at("fe80::1%eth0"), "deny");
  assert.equal(at("11.0.0.1"), "deny");
  assert.equal(at("::ffff:11.0.0.1"), "deny");
  assert.equal(at("2001:db9::1"), "deny");
  assert.equal(at("127.0.0.1"), "deny");
  // Both conditions must hold.
  const both = policy("both", {
    ...allowDevices,
    conditions: { sourceIp: ["10.0.0.0/8"], mfaPresent: true },
  });
  assert.equal(
    evaluate(
      req("device:Get", cam, { sourceIp: "10.0.0.1", mfaPresent: false }),
      [both],
    ).decision,
    "deny",
  );
  assert.equal(
    evaluate(
      req("device:Get", cam, { sourceIp: "192.0.2.1", mfaPresent: true }),
      [both],
    ).decision,
    "deny",
  );
});

test("a deny limited to outside addresses applies only there", () => {
  const p = policy("p", allowDevices, {
    effect: "deny",
    actions: ["device:Reset"],
    resources: ["*"],
    conditions: { sourceIp: ["192.0.2.0/24"] },
  });
  assert.equal(
    evaluate(req("device:Reset", cam, { sourceIp: "192.0.2.9" }), [p]).reason,
    "explicit-deny",
  );
  assert.equal(
    evaluate(req("device:Reset", cam, { sourceIp: "10.0.0.1" }), [p]).decision,
    "allow",
  );
});

test("malformed requests throw instead of deciding (fail closed)", () => {
  const p = [
    policy("all", { effect: "allow", actions: ["*"], resources: ["*"] }),
  ];
  assert.throws(() => evaluate(req("device:Fly" as ActionName, cam), p), {
    code: "POLICY_REQUEST_INVALID",
  });
  assert.throws(
    () => evaluate(req("device:Get", "srn:sightline:prod:device/a b"), p),
    { code: "SRN_INVALID" },
  );
  assert.throws(
    () => evaluate(req("device:Get", "srn:sightline:prod:secret/db"), p),
    { code: "POLICY_REQUEST_INVALID" },
  );
  assert.throws(
    () => evaluate(req("device:Get", cam, { sourceIp: "not-an-ip" }), p),
    { code: "POLICY_REQUEST_INVALID" },
  );
});

test("authorize returns the allow decision or throws ACCESS_DENIED naming action and resource only", () => {
  const p = policy("secret-policy-name", allowDevices, denyReboot);
  assert.equal(authorize(req("device:Get", cam), [p]).decision, "allow");
  assert.throws(
    () => authorize(req("device:Reboot", cam), [p]),
    (err: unknown) => {
      assert.ok(err instanceof AccessDeniedError);
      assert.equal(err.code, "ACCESS_DENIED");
      assert.match(
        err.message,
        /device:Reboot on srn:sightline:prod:device\/cam-1/,
      );
      assert.ok(
        !err.message.includes("secret-policy-name") &&
          !JSON.stringify(err.details).includes("secret-policy-name"),
      );
      assert.equal(err.decision.reason, "explicit-deny");
      return true;
    },
  );
  assert.throws(
    () =>
      authorize(req("secret:ReadValue", "srn:sightline:prod:secret/db"), [p]),
    { code: "ACCESS_DENIED" },
  );
});
