import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under `dir` whose bytes contain any of `needles`: what an attacker with the disk would find. */
export function grepDir(dir: string, needles: readonly (string | Buffer)[]): { file: string; needle: string }[] {
  const hits: { file: string; needle: string }[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const bytes = readFileSync(p);
        for (const n of needles) {
          const b = typeof n === 'string' ? Buffer.from(n) : n;
          if (b.length > 0 && bytes.includes(b))
            hits.push({ file: p, needle: typeof n === 'string' ? n.slice(0, 40) : `<${b.length} bytes>` });
        }
      }
    }
  };
  walk(dir);
  return hits;
}

/** The base64 body of a PEM (what a grep for a leaked key looks for), in 40-character pieces. */
export function pemBodyPieces(pem: string): string[] {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const out: string[] = [];
  for (let i = 0; i + 40 <= body.length; i += 40) out.push(body.slice(i, i + 40));
  return out;
}
