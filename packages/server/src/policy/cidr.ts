import { isIPv4, isIPv6 } from "node:net";

/**
 * IP addresses and CIDR blocks, IPv4 and IPv6 in one form: every address is 16 bytes,
 * IPv4 as its IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2, `::ffff:a.b.c.d`). So
 * `10.0.0.0/8` (stored as `::ffff:10.0.0.0/104`) matches both `10.1.2.3` and
 * `::ffff:10.1.2.3`, and `::/0` matches every address.
 */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

function mapped(v4: string): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes[10] = 0xff;
  bytes[11] = 0xff;
  v4.split(".").forEach((octet, i) => (bytes[12 + i] = Number(octet)));
  return bytes;
}

/** Parse an IPv4 or IPv6 address (no zone id); undefined if it is not one. */
export function parseIp(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return mapped(text);
  if (!isIPv6(text) || text.includes("%")) return undefined;
  let t = text;
  if (t.includes(".")) {
    // An embedded IPv4 tail becomes the last two 16-bit groups.
    const cut = t.lastIndexOf(":") + 1;
    const v4 = mapped(t.slice(cut));
    const group = (i: number): string =>
      (((v4[i] ?? 0) << 8) | (v4[i + 1] ?? 0)).toString(16);
    t = `${t.slice(0, cut)}${group(12)}:${group(14)}`;
  }
  const [head = "", tail] = t.split("::");
  const groups = (s: string): string[] => (s === "" ? [] : s.split(":"));
  const all =
    tail === undefined
      ? groups(head)
      : [
          ...groups(head),
          ...Array<string>(8 - groups(head).length - groups(tail).length).fill(
            "0",
          ),
          ...groups(tail),
        ];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = parseInt(g, 16);
    bytes[2 * i] = n >> 8;
    bytes[2 * i + 1] = n & 0xff;
  });
  return bytes;
}

function bitAt(bytes: Uint8Array, i: number): number {
  return ((bytes[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
}

/** Parse `addr/prefix` (or a bare address: one host); the problem as a string if invalid. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addr);
  if (bytes === undefined)
    return "is not an IPv4 or IPv6 address or CIDR block";
  const v4 = isIPv4(addr);
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max)
      return `has a prefix length that is not 0–${max}`;
    prefix = Number(p);
  }
  const full = v4 ? prefix + 96 : prefix;
  for (let i = full; i < 128; i++) {
    if (bitAt(bytes, i) !== 0)
      return "has address bits set after the prefix length: write the network address";
  }
  return { bytes, prefix: full };
}

export function cidrContains(cidr: Cidr, ip: Uint8Array): boolean {
  for (let i = 0; i < cidr.prefix; i++)
    if (bitAt(cidr.bytes, i) !== bitAt(ip, i)) return false;
  return true;
}
