import { test } from "node:test";
import { strict as assert } from "node:assert";
import { actionsMatching } from "./actions.js";
import { matches } from "./wildcard.js";

test("action wildcards stay inside a field", () => {
  assert.ok(matches("*", "device:Get"));
  assert.ok(matches("device:*", "device:ViewOutput"));
  assert.ok(matches("*:Get", "secret:Get"));
  assert.ok(!matches("*:Get", "secret:GetX"));
  assert.ok(matches("key:*Deletion", "key:CancelDeletion"));
  assert.ok(matches("key:?se", "key:Use"));
  assert.ok(!matches("key:?", "key:Use"));
  assert.ok(!matches("device:*", "devices:Get"));
  assert.ok(!matches("device*", "device:Get"), '* does not cross ":"');
  assert.ok(!matches("device:get", "device:Get"), "case-sensitive");
  assert.deepEqual(actionsMatching("secret:Get*"), ["secret:Get"]);
  assert.equal(actionsMatching("*:ReadValue").length, 1);
});

test('resource wildcards: fields, "/" and empty runs', () => {
  assert.ok(matches("srn:sightline:*:device/*", "srn:sightline:b:device/x"));
  assert.ok(
    matches(
      "srn:sightline:prod:artifact/*",
      "srn:sightline:prod:artifact/models/face.onnx",
    ),
    '* crosses "/"',
  );
  assert.ok(matches("srn:sightline:prod:*", "srn:sightline:prod:secret/db"));
  assert.ok(!matches("srn:sightline:prod:*", "srn:sightline:prod2:secret/db"));
  assert.ok(
    !matches("srn:sightline:*", "srn:sightline:prod:device/x"),
    '* does not cross ":"',
  );
  assert.ok(
    matches("srn:sightline:*:*", "srn:sightline::user/alice"),
    "* matches the empty project",
  );
  assert.ok(
    matches("srn:sightline:p?:device/cam-?", "srn:sightline:p1:device/cam-7"),
  );
  assert.ok(
    !matches("srn:sightline:p?:device/cam-?", "srn:sightline:p:device/cam-7"),
  );
  assert.ok(
    matches("srn:sightline:a:device/*-*-*x", "srn:sightline:a:device/a-b-c-dx"),
  );
  assert.ok(
    !matches("srn:sightline:a:device/*-*-*x", "srn:sightline:a:device/a-b-c-d"),
  );
  assert.ok(matches("srn:sightline:a:device/**", "srn:sightline:a:device/"));
});

test('only an all-"*" name or project covers a collection', () => {
  assert.ok(matches("srn:sightline:a:device/*", "srn:sightline:a:device/*"));
  assert.ok(
    !matches("srn:sightline:a:device/cam-*", "srn:sightline:a:device/*"),
  );
  assert.ok(!matches("srn:sightline:a:device/?", "srn:sightline:a:device/*"));
  assert.ok(!matches("srn:sightline:a:device/*", "srn:sightline:*:device/*"));
  assert.ok(!matches("srn:sightline:?:device/*", "srn:sightline:*:device/*"));
  assert.ok(matches("srn:sightline:*:device/*", "srn:sightline:*:device/*"));
});

test("matching long adversarial patterns is fast", () => {
  const pattern = `srn:sightline:a:device/${"*a".repeat(100)}b`;
  const subject = `srn:sightline:a:device/${"a".repeat(250)}`;
  const start = process.hrtime.bigint();
  assert.ok(!matches(pattern, subject));
  assert.ok(process.hrtime.bigint() - start < 200_000_000n);
});
