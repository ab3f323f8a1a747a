import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The agent's version, from its package.json (reported in every heartbeat). */
export const AGENT_VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version.slice(0, 64) : '0.0.0';
})();

/** The agent's installed folder (what the integrity manifest covers). */
export const AGENT_ROOT: string = fileURLToPath(new URL('..', import.meta.url));
