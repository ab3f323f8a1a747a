import { test } from "node:test";
import { strict as assert } from "node:assert";
import { collectionSrn, formatSrn, parseSrn } from "./srn.js";

const code = (code: string) => (err: unknown) =>
  (err as { code?: unknown }).code === code;

test("parseSrn reads project and global SRNs and formatSrn round-trips them", () => {
  assert.deepEqual(parseSrn("srn:sightline:default:device/cam-box-1"), {
    project: "default",
    type: "device",
    name: "cam-box-1",
  });
  assert.deepEqual(parseSrn("srn:sightline::user/alice"), {
    project: null,
    type: "user",
    name: "alice",
  });
  assert.deepEqual(
    parseSrn("srn:sightline:prod:artifact/models/face_v1.2.onnx").name,
    "models/face_v1.2.onnx",
  );
  for (const s of [
    "srn:sightline:p-1:log-group/apps/x",
    "srn:sightline::policy/Ops.Read",
  ]) {
    assert.equal(formatSrn(parseSrn(s)), s);
  }
});

test('collections are named "*", across projects only as a whole collection', () => {
  assert.equal(collectionSrn("device", "prod"), "srn:sightline:prod:device/*");
  assert.equal(collectionSrn("device", "*"), "srn:sightline:*:device/*");
  assert.equal(collectionSrn("user", null), "srn:sightline::user/*");
  assert.throws(
    () => parseSrn("srn:sightline:*:device/x"),
    code("SRN_INVALID"),
  );
  assert.throws(
    () => parseSrn("srn:sightline:prod:device/cam-*"),
    code("SRN_INVALID"),
  );
});

test("parseSrn rejects malformed SRNs with SRN_INVALID", () => {
  const bad = [
    "",
    "arn:aws:iam::123:user/alice",
    "srn:sightline:prod:device",
    "srn:sightline:prod:gadget/x",
    "srn:sightline:prod:user/alice", // users are global
    "srn:sightline::device/x", // devices belong to a project
    "srn:sightline:Prod:device/x",
    "srn:sightline:-prod:device/x",
    `srn:sightline:${"a".repeat(64)}:device/x`,
    "srn:sightline:prod:device/",
    "srn:sightline:prod:device/a//b",
    "srn:sightline:prod:device/../x",
    "srn:sightline:prod:device/a:b",
    "srn:sightline:prod:device/a b",
    "srn:sightline:prod:device/alice@example.com",
    `srn:sightline:prod:device/${"x".repeat(257)}`,
    `srn:sightline:prod:artifact/${"x/".repeat(250)}x`,
  ];
  for (const s of bad) assert.throws(() => parseSrn(s), code("SRN_INVALID"), s);
  assert.throws(
    () => formatSrn({ project: null, type: "device", name: "x" }),
    code("SRN_INVALID"),
  );
});
