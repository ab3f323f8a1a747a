import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deploymentKey, planApps, type DesiredApp, type InstanceSnapshot } from '../src/apps/planner.js';

const SIG = { algorithm: 'ed25519' as const, keyId: '0123456789abcdef', publicKey: `${'A'.repeat(43)}=`, signature: `${'B'.repeat(86)}==` };

function app(id: string, revision: number, over: Partial<DesiredApp> = {}): DesiredApp {
  return {
    instanceId: id,
    app: 'blur',
    revision,
    manifestSha256: 'a'.repeat(64),
    code: [{ node: 'blur', package: { kind: 'code', name: 'privacy-blur', version: '0.1.0', manifestB64: 'e30=', signature: SIG } }],
    models: [],
    cameras: [{ node: 'camera', cameraId: 'cam_1', camera: 'door', url: 'rtsps://cam/1', hasCredentials: true, paused: false }],
    outputs: ['out'],
    edges: [
      { from: 'camera', to: 'blur.video_in' },
      { from: 'blur.video_out', to: 'out' },
    ],
    parameters: { blur: { threshold: 0.75 } },
    trustedKeyIds: [],
    stageTimeoutsSeconds: { downloading: 600, verifying: 120, starting: 120 },
    ...over,
  };
}

const running = (a: DesiredApp, over: Partial<InstanceSnapshot> = {}): InstanceSnapshot => ({
  instanceId: a.instanceId,
  revision: a.revision,
  key: deploymentKey(a),
  phase: 'running',
  paused: a.cameras.filter((c) => c.paused).map((c) => c.node),
  ...over,
});

test('a new instance is deployed; one that runs at its revision is left alone', () => {
  const a = app('i-1', 1);
  assert.deepEqual(planApps({ integrity: 'verified', instances: [] }, [a]), [{ kind: 'deploy', app: a, reason: 'new' }]);
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(a)] }, [a]), []);
});

test('a changed revision with other content is a redeploy; an older revision changes nothing', () => {
  const a = app('i-1', 1);
  const b = app('i-1', 2, { parameters: { blur: { threshold: 0.5 } } });
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(a)] }, [b]), [{ kind: 'deploy', app: b, reason: 'changed' }]);
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(b)] }, [a]), []);
});

test('a pause is applied in place (no redeploy), then the revision is adopted; resume likewise', () => {
  const a = app('i-1', 1);
  const paused = app('i-1', 2, { cameras: a.cameras.map((c) => ({ ...c, paused: true })) });
  assert.equal(deploymentKey(a), deploymentKey(paused));
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(a)] }, [paused]), [
    { kind: 'pause', instanceId: 'i-1', camera: 'camera' },
    { kind: 'adopt', app: paused },
  ]);
  const resumed = app('i-1', 3);
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(paused)] }, [resumed]), [
    { kind: 'resume', instanceId: 'i-1', camera: 'camera' },
    { kind: 'adopt', app: resumed },
  ]);
});

test('a failed deployment is not retried at the same revision, and is at a newer one', () => {
  const a = app('i-1', 1);
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(a, { phase: 'failed' })] }, [a]), []);
  const bump = app('i-1', 2);
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(a, { phase: 'failed' })] }, [bump]), [
    { kind: 'deploy', app: bump, reason: 'retry' },
  ]);
});

test('a failure marked retry (while the control plane was away) is retried at the same revision, only with the same content', () => {
  const a = app('i-1', 1);
  const failedAway = running(a, { phase: 'failed', retry: true });
  assert.deepEqual(planApps({ integrity: 'verified', instances: [failedAway] }, [a]), [{ kind: 'deploy', app: a, reason: 'retry' }]);
  // Running, or marked but the content differs at the same revision: left alone; compromised: stopped, not retried.
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(a, { retry: true })] }, [a]), []);
  const other = app('i-1', 1, { parameters: { blur: { threshold: 0.5 } } });
  assert.deepEqual(planApps({ integrity: 'verified', instances: [failedAway] }, [other]), []);
  assert.deepEqual(planApps({ integrity: 'compromised', instances: [failedAway] }, [a]), [
    { kind: 'stop', instanceId: 'i-1', reason: 'integrity compromised' },
  ]);
});

test('an instance the control plane dropped is stopped; steps come in instance order', () => {
  const a = app('i-2', 1);
  const gone = app('i-1', 4);
  const c = app('i-3', 1);
  assert.deepEqual(planApps({ integrity: 'verified', instances: [running(a), running(gone)] }, [c, a]), [
    { kind: 'stop', instanceId: 'i-1', reason: 'removed' },
    { kind: 'deploy', app: c, reason: 'new' },
  ]);
});

test('compromised: every instance stops and nothing starts, whatever the desired state says', () => {
  const a = app('i-1', 1);
  const b = app('i-2', 1);
  assert.deepEqual(
    planApps({ integrity: 'compromised', instances: [running(b), running(a, { phase: 'deploying' })] }, [a, b, app('i-3', 1)]),
    [
      { kind: 'stop', instanceId: 'i-1', reason: 'integrity compromised' },
      { kind: 'stop', instanceId: 'i-2', reason: 'integrity compromised' },
    ],
  );
  assert.deepEqual(planApps({ integrity: 'compromised', instances: [] }, [a]), []);
});

test('the deployment key ignores key order and the revision, not the content', () => {
  const a = app('i-1', 1);
  const reverse = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reverse)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reverse(x)]),
          )
        : v;
  const reordered = reverse({ ...a, revision: 9 }) as DesiredApp;
  assert.notEqual(JSON.stringify(reordered), JSON.stringify({ ...a, revision: 9 }));
  assert.equal(deploymentKey(reordered), deploymentKey(a));
  assert.notEqual(deploymentKey(app('i-1', 1, { trustedKeyIds: ['0123456789abcdef'] })), deploymentKey(a));
});

test('the planner is pure', () => {
  const a = app('i-1', 2);
  const cur = { integrity: 'verified' as const, instances: [running(app('i-1', 1))] };
  const snap = JSON.stringify([cur, a]);
  assert.deepEqual(planApps(cur, [a]), planApps(cur, [a]));
  assert.equal(JSON.stringify([cur, a]), snap);
});
