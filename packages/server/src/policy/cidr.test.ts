import { test } from "node:test";
import { strict as assert } from "node:assert";
import { cidrContains, parseCidr, parseIp, type Cidr } from "./cidr.js";

function cidr(text: string): Cidr {
  const c = parseCidr(text);
  assert.ok(typeof c !== "string", `${text}: ${JSON.stringify(c)}`);
  return c;
}
const inside = (block: string, ip: string): boolean =>
  cidrContains(cidr(block), parseIp(ip) ?? assert.fail(ip));

test("IPv4 blocks", () => {
  assert.ok(inside("10.0.0.0/8", "10.255.1.2"));
  assert.ok(!inside("10.0.0.0/8", "11.0.0.1"));
  assert.ok(inside("192.168.1.128/25", "192.168.1.200"));
  assert.ok(!inside("192.168.1.128/25", "192.168.1.127"));
  assert.ok(inside("0.0.0.0/0", "8.8.8.8"));
  assert.ok(inside("203.0.113.7", "203.0.113.7"));
  assert.ok(!inside("203.0.113.7/32", "203.0.113.8"));
});

test('IPv6 blocks, including "::" forms and embedded IPv4', () => {
  assert.ok(inside("::1/128", "::1"));
  assert.ok(!inside("::1/128", "::2"));
  assert.ok(inside("2001:db8::/32", "2001:db8:ffff::1"));
  assert.ok(!inside("2001:db8::/32", "2001:db9::1"));
  assert.ok(inside("fe80::/10", "febf::1"));
  assert.ok(!inside("fe80::/10", "fec0::1"));
  assert.ok(inside("2001:db8:0:0:0:0:0:0/127", "2001:db8::1"));
  assert.ok(inside("64:ff9b::/96", "64:ff9b::192.0.2.1"));
  assert.ok(!inside("2001:db8::/32", "10.0.0.1"));
});

test("IPv4-mapped IPv6 addresses match IPv4 blocks and the reverse", () => {
  assert.ok(inside("10.0.0.0/8", "::ffff:10.1.2.3"));
  assert.ok(inside("10.0.0.0/8", "::ffff:a01:203"));
  assert.ok(!inside("10.0.0.0/8", "::ffff:11.1.2.3"));
  assert.ok(
    !inside("10.0.0.0/8", "::10.1.2.3"),
    "IPv4-compatible is not IPv4-mapped",
  );
  assert.ok(inside("::ffff:10.0.0.0/104", "10.9.9.9"));
  assert.ok(inside("::/0", "10.9.9.9"));
});

test("bad blocks and addresses are refused", () => {
  for (const bad of [
    "10.0.0.0/33",
    "::/129",
    "10.0.0.1/8",
    "2001:db8::1/32",
    "10.0.0.0/08",
    "10.0.0/8",
    "fe80::1%eth0/64",
    "localhost",
    "",
    "10.0.0.0/",
    "1::2::3/64",
  ]) {
    assert.equal(typeof parseCidr(bad), "string", bad);
  }
  for (const bad of [
    "010.0.0.1",
    "256.0.0.1",
    "fe80::1%eth0",
    "::ffff:1.2.3",
    "x",
  ])
    assert.equal(parseIp(bad), undefined, bad);
});
