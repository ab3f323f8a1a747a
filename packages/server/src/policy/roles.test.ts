import { test } from "node:test";
import { strict as assert } from "node:assert";
import { ACTION_NAMES, ACTIONS, type ActionName } from "./actions.js";
import { evaluate, type ApplicablePolicy } from "./evaluate.js";
import { ROLE_NAMES, roleDocument, type RoleName } from "./roles.js";
import { RESOURCE_TYPES, type ResourceType } from "./srn.js";

function granted(role: RoleName, project: string): ApplicablePolicy[] {
  return [
    {
      name: role,
      source: { kind: "role", role, project },
      document: roleDocument(role, project),
    },
  ];
}

/** A resource of the action's type in `project` (global types ignore it); a collection for List actions. */
function resourceFor(action: ActionName, project = "a"): string {
  const type: ResourceType = ACTIONS[action].resource;
  const name = /:List/.test(action) ? "*" : type === "project" ? project : "x";
  return `srn:sightline:${RESOURCE_TYPES[type] === "global" ? "" : project}:${type}/${name}`;
}

function allowed(
  role: RoleName,
  project: string,
  action: ActionName,
  resource = resourceFor(action),
): boolean {
  const request = {
    principal: { type: "user", id: "u", name: "u" },
    action,
    resource,
    context: { mfaPresent: true, sourceIp: "10.0.0.1" },
  } as const;
  return evaluate(request, granted(role, project)).decision === "allow";
}

const writes = ACTION_NAMES.filter((a) => ACTIONS[a].access === "write");

test("every role document is valid for one project and for all", () => {
  for (const role of ROLE_NAMES)
    for (const p of ["a", "*"])
      assert.ok(roleDocument(role, p).statements.length > 0);
  assert.throws(() => roleDocument("Operator", "B!"), { code: "SRN_INVALID" });
  assert.throws(() => roleDocument("Root" as RoleName, "a"), {
    code: "POLICY_INVALID",
  });
});

test("Admin for all projects may do everything; Admin for one project only that project", () => {
  for (const a of ACTION_NAMES) assert.ok(allowed("Admin", "*", a), a);
  for (const a of ACTION_NAMES) {
    const projectScoped = RESOURCE_TYPES[ACTIONS[a].resource] === "project";
    assert.equal(
      allowed("Admin", "a", a),
      projectScoped || a === "project:Get",
      a,
    );
    if (projectScoped)
      assert.ok(!allowed("Admin", "a", a, resourceFor(a, "b")), a);
  }
});

test("ReadOnly is denied every write in the catalogue, secret values and the audit trail", () => {
  assert.ok(writes.length > 40);
  for (const p of ["a", "*"]) {
    for (const a of writes) assert.ok(!allowed("ReadOnly", p, a), a);
    for (const a of [
      "secret:ReadValue",
      "audit:Read",
      "device:ViewOutput",
      "logs:Read",
    ] as const)
      assert.ok(!allowed("ReadOnly", p, a), a);
  }
  for (const a of [
    "device:Get",
    "device:List",
    "secret:Get",
    "key:List",
    "logs:ListGroups",
  ] as const)
    assert.ok(allowed("ReadOnly", "a", a), a);
  assert.ok(allowed("ReadOnly", "*", "user:List"));
  assert.ok(
    !allowed("ReadOnly", "a", "user:List"),
    "global objects only for all projects",
  );
});

test("Auditor can read the audit trail; ReadOnly, Operator and Developer cannot", () => {
  for (const p of ["a", "*"]) {
    assert.ok(allowed("Auditor", p, "audit:Read"));
    for (const role of ["ReadOnly", "Operator", "Developer"] as const)
      assert.ok(!allowed(role, p, "audit:Read"), role);
    for (const a of writes) assert.ok(!allowed("Auditor", p, a), a);
    assert.ok(!allowed("Auditor", p, "secret:ReadValue"));
    assert.ok(allowed("Auditor", p, "logs:Read"));
  }
  assert.ok(
    allowed("Auditor", "*", "policy:Get") &&
      allowed("Auditor", "*", "user:List"),
  );
});

test("project scoping: Operator on project a cannot touch project b", () => {
  assert.ok(
    allowed("Operator", "a", "device:Reboot", "srn:sightline:a:device/x"),
  );
  assert.ok(
    !allowed("Operator", "a", "device:Reboot", "srn:sightline:b:device/x"),
  );
  assert.ok(
    !allowed("Operator", "a", "device:List", "srn:sightline:b:device/*"),
  );
  assert.ok(
    !allowed("Operator", "a", "device:List", "srn:sightline:*:device/*"),
    "no cross-project list",
  );
  assert.ok(
    allowed("Operator", "*", "device:List", "srn:sightline:*:device/*"),
  );
  assert.ok(
    allowed("Operator", "a", "project:Get", "srn:sightline::project/a"),
  );
  assert.ok(
    !allowed("Operator", "a", "project:Get", "srn:sightline::project/b"),
  );
  for (const role of ROLE_NAMES) {
    for (const a of ACTION_NAMES) {
      if (RESOURCE_TYPES[ACTIONS[a].resource] === "project")
        assert.ok(!allowed(role, "a", a, resourceFor(a, "b")), `${role} ${a}`);
    }
  }
});

test("Operator runs the fleet but administers no identities, policies, keys or secrets", () => {
  for (const a of [
    "device:Provision",
    "device:UpdateSoftware",
    "camera:Create",
    "app:Deploy",
    "app:Pause",
    "logs:Read",
    "release:List",
  ] as const) {
    assert.ok(allowed("Operator", "a", a), a);
  }
  for (const p of ["a", "*"]) {
    for (const a of ACTION_NAMES) {
      if (
        /^(user|group|policy|apikey|key|secret|signing-key|audit|artifact|project):/.test(
          a,
        ) &&
        a !== "project:Get"
      ) {
        assert.ok(!allowed("Operator", p, a), a);
      }
    }
  }
  assert.ok(!allowed("Operator", "a", "package:Push"));
});

test("Developer ships packages and apps in granted projects only", () => {
  for (const a of [
    "package:Push",
    "artifact:Put",
    "artifact:Get",
    "app:Deploy",
    "signing-key:Create",
    "logs:Read",
  ] as const) {
    assert.ok(allowed("Developer", "a", a), a);
    assert.ok(!allowed("Developer", "a", a, resourceFor(a, "b")), a);
  }
  for (const a of [
    "device:Reboot",
    "device:Provision",
    "app:Remove",
    "secret:ReadValue",
    "key:Use",
    "user:Create",
    "release:Publish",
  ] as const) {
    assert.ok(!allowed("Developer", "*", a), a);
  }
});
