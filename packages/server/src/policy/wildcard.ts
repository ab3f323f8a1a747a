/**
 * Pattern matching for actions and resources.
 *
 * - A pattern that is exactly `*` matches everything.
 * - Otherwise pattern and subject are split at `:` and must have the same number of
 *   fields; each field is matched as a glob: `*` matches any run of characters (also
 *   none, also `/`), `?` matches one character. So wildcards never cross a `:`:
 *   `device:*` matches `device:Get` but not `devicex:Get`; `srn:sightline:*:device/*`
 *   matches every project's devices (and `*` also matches the empty project of global SRNs).
 * - `?` never matches a literal `*` in the subject, so a collection SRN (`.../device/*`)
 *   is matched only by a pattern whose name is all `*` (`cam-*` does not cover "all devices").
 *
 * Matching is case-sensitive and runs in O(pattern × subject) with no regular expressions.
 */
export function matches(pattern: string, subject: string): boolean {
  if (pattern === "*") return true;
  const p = pattern.split(":");
  const s = subject.split(":");
  return (
    p.length === s.length && p.every((field, i) => globField(field, s[i] ?? ""))
  );
}

function globField(p: string, s: string): boolean {
  let pi = 0;
  let si = 0;
  let star = -1;
  let mark = 0;
  while (si < s.length) {
    const pc = p[pi];
    if (pc === "*") {
      star = pi++;
      mark = si;
    } else if (
      pc !== undefined &&
      (pc === "?" ? s[si] !== "*" : pc === s[si])
    ) {
      pi++;
      si++;
    } else if (star >= 0) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (p[pi] === "*") pi++;
  return pi === p.length;
}
