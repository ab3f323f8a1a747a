import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, storageUrl } from './config.js';

function dir(config?: unknown): string {
  const d = mkdtempSync(join(tmpdir(), 'sightline-cfg-'));
  if (config !== undefined) writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return d;
}

test('defaults are secure and the result is frozen', () => {
  const c = loadConfig(dir(), {});
  assert.equal(c.tls.minVersion, '1.2');
  assert.equal(c.auth.requireMfa, true);
  assert.equal(c.server.port, 8443);
  assert.match(storageUrl(c), /^sqlite:.*sightline\.db$/);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.tls));
  assert.throws(() => {
    (c.tls as { minVersion: string }).minVersion = '1.0';
  });
});

test('environment overrides the file', () => {
  const c = loadConfig(dir({ server: { port: 9000 } }), { SIGHTLINE_PORT: '9443', SIGHTLINE_TLS_MIN_VERSION: '1.3' });
  assert.equal(c.server.port, 9443);
  assert.equal(c.tls.minVersion, '1.3');
});

test('a bad value names the key', () => {
  assert.throws(
    () => loadConfig(dir({ tls: { minVersion: '1.1' } }), {}),
    (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && e.message.includes('tls.minVersion'),
  );
  assert.throws(
    () => loadConfig(dir(), { SIGHTLINE_PORT: 'eighty' }),
    (e: unknown) => e instanceof ConfigError && e.message.includes('SIGHTLINE_PORT'),
  );
  assert.throws(
    () => loadConfig(dir({ surprise: 1 }), {}),
    (e: unknown) => e instanceof ConfigError && e.message.includes('"surprise"') && e.code === 'CONFIG_INVALID',
  );
  assert.throws(
    () => loadConfig(dir({ tls: { certFile: '/x.pem' } }), {}),
    (e: unknown) => e instanceof ConfigError && e.message.includes('tls.certFile'),
  );
});

test('a config file that is not JSON is refused', () => {
  const d = dir();
  writeFileSync(join(d, 'config.json'), '{nope');
  assert.throws(() => loadConfig(d, {}), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_UNREADABLE');
});
