/**
 * The Sightline appliance agent (`sightline-agent`). The CLI is the usual
 * entry point; these exports are for tests, release tooling and embedding.
 */
export { AgentError, ControlPlaneError, type AgentErrorCode, type RemoteErrorCode } from './errors.js';
export { systemClock, type Clock, type Random } from './clock.js';
export { AGENT_VERSION } from './version.js';
export { decryptArchive, readArchiveFile, type ProvisioningArchive } from './archive/archive.js';
export { generateDeviceKey, certFacts, renewAt } from './identity/keys.js';
export { register, isRegistered, type RegisterOptions, type RegisterResult } from './identity/register.js';
export { ControlPlaneFetcher } from './client/control-plane-fetcher.js';
export { HttpsFetcher, type Fetcher, type FetchRequest, type FetchResponse, type TlsIdentity } from './client/fetcher.js';
export { DeviceClient } from './client/device-client.js';
export { Backoff } from './client/backoff.js';
export { EncryptedStore } from './storage/store.js';
export { RootKeyManager, KEY_FILE_WARNING, type RootKeyMode, type RootKeyProtection } from './storage/root-key.js';
export { Tpm } from './storage/tpm.js';
export { MANIFEST_FILE, buildManifest, signManifest, verifyManifest, compareTree, keyId } from './integrity/manifest.js';
export { IntegrityMonitor, type IntegrityStatus } from './integrity/monitor.js';
export { LogSpool, DEFAULT_SPOOL_QUOTA_BYTES, type LogEvent } from './logs/spool.js';
export { AgentLogger } from './logs/logger.js';
export { plan, type CurrentState, type Step } from './reconcile/planner.js';
export { systemRuntime, type Runtime } from './reconcile/runtime.js';
export { fullReset, type ResetReport } from './reset/reset.js';
export { Agent, DEFAULT_AGENT_CONFIG, type AgentConfig, type AgentDeps, type AgentExit } from './run/agent.js';
export { run as runCli, EXIT } from './cli/program.js';
export * from './vision/index.js';
export * from './camera/index.js';
