import type { Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { AccessRepository } from './access/access.repository.js';
import { accessRoutes } from './access/access.routes.js';
import { AccessService } from './access/access.service.js';
import { AuditRepository } from './audit/audit.repository.js';
import { auditRoutes } from './audit/audit.routes.js';
import { AuditService } from './audit/audit.service.js';
import { CameraSecretBindings } from './cameras/camera-bindings.js';
import { CameraRepository } from './cameras/camera.repository.js';
import { cameraRoutes } from './cameras/camera.routes.js';
import { CameraService } from './cameras/camera.service.js';
import { appDeviceApiRoutes } from './apps/app-device.routes.js';
import { AppRepository } from './apps/app.repository.js';
import { appRoutes } from './apps/app.routes.js';
import { AppService } from './apps/app.service.js';
import { PackageRepository } from './packages/package.repository.js';
import { packageRoutes } from './packages/package.routes.js';
import { PackageService } from './packages/package.service.js';
import { kmsRoutes } from './kms/kms.routes.js';
import { consoleRoutes } from './console/console.routes.js';
import { consoleDistDir, consoleFallback } from './console/console-static.js';
import { deviceApiRoutes, deviceRoutes } from './devices/device.routes.js';
import { ReleaseRepository } from './releases/release.repository.js';
import { releaseDeviceRoutes, releaseRoutes } from './releases/release.routes.js';
import { ReleaseService } from './releases/release.service.js';
import { DeviceService } from './devices/device.service.js';
import { certificateFingerprint, type Issued } from './tls/ca.js';
import { loadCertificateAuthority, loadServerMaterial } from './tls/server-material.js';
import { ArtifactRepository } from './artifacts/artifact.repository.js';
import { artifactRoutes } from './artifacts/artifact.routes.js';
import { ArtifactService } from './artifacts/artifact.service.js';
import { LocalFsBackend } from './artifacts/local-fs.backend.js';
import { KmsService } from './kms/kms.service.js';
import { systemClock, type Clock } from './clock.js';
import { storageUrl, type Config } from './config/config.js';
import { createListener } from './http/listener.js';
import { createRequestHandler } from './http/pipeline.js';
import { Router, type Route } from './http/router.js';
import { systemRoutes } from './http/system.routes.js';
import { ApiKeyService } from './identity/apikey.service.js';
import { AuthService, type LoginEvent } from './identity/auth.service.js';
import { GroupService } from './identity/group.service.js';
import { apiKeyRoutes, authRoutes, groupRoutes, userRoutes } from './identity/identity.routes.js';
import { UserRepository } from './identity/user.repository.js';
import { UserService } from './identity/user.service.js';
import { RootKey } from './keys/root-key.js';
import { createLogger, silentLogger, type Logger } from './logging/logger.js';
import { projectRoutes } from './projects/project.routes.js';
import { ProjectService } from './projects/project.service.js';
import { previewDeviceRoutes, previewRoutes } from './previews/preview.routes.js';
import { PreviewService } from './previews/preview.service.js';
import { LogRepository } from './logs/log.repository.js';
import { logRoutes } from './logs/log.routes.js';
import { LogService } from './logs/log.service.js';
import type { SecretBindingLookup } from './secrets/secret-access.js';
import { SecretRepository } from './secrets/secret.repository.js';
import { secretRoutes } from './secrets/secret.routes.js';
import { SecretService } from './secrets/secret.service.js';
import { openDatabase, type OpenedDatabase } from './storage/database.js';
import { Store } from './storage/store.js';
import { enableFipsOrThrow, tlsOptions } from './tls/tls-options.js';

export interface Services {
  store: Store;
  rootKey: RootKey;
  clock: Clock;
  users: UserService;
  userRepo: UserRepository;
  groups: GroupService;
  access: AccessService;
  auth: AuthService;
  apiKeys: ApiKeyService;
  projects: ProjectService;
  audit: AuditService;
  kms: KmsService;
  devices: DeviceService;
  secrets: SecretService;
  logs: LogService;
  artifacts: ArtifactService;
  cameras: CameraService;
  releases: ReleaseService;
  cameraRepo: CameraRepository;
  packages: PackageService;
  apps: AppService;
  previews: PreviewService;
}

export interface ServiceOptions {
  clock?: Clock;
  /** Where agents reach this control plane; set once the listener is up. */
  controlPlaneUrl?: () => string;
  logger?: Logger;
  onLoginEvent?: (e: LoginEvent) => Promise<void>;
  /** Which devices may read which secrets; default: a device bound to the camera whose secret it is (camera_bindings). */
  secretBindings?: SecretBindingLookup;
}

/** Wires repositories and services; each service gets only what it uses. */
export function buildServices(config: Config, db: OpenedDatabase, rootKey: RootKey, options: ServiceOptions = {}): Services {
  const clock = options.clock ?? systemClock;
  const store = new Store(db.db, db.engine);
  const userRepo = new UserRepository(store);
  const access = new AccessService(new AccessRepository(store), clock);
  const auth = new AuthService(store, userRepo, rootKey, clock, config.auth, options.onLoginEvent);
  const audit = new AuditService(store, new AuditRepository(store), rootKey, clock, options.logger ?? silentLogger, {
    checkpointIntervalMs: config.audit.checkpointIntervalSeconds * 1000,
    checkpointEveryEvents: config.audit.checkpointEveryEvents,
    retentionDays: config.audit.retentionDays,
  });
  const kms = new KmsService(store, rootKey, access, audit, clock);
  let ca: Issued | undefined;
  let serverSha: string | undefined;
  const devices = new DeviceService(store, () => (ca ??= loadCertificateAuthority(config.dataDir, rootKey)), audit, clock, {
    controlPlaneUrl: options.controlPlaneUrl ?? (() => config.server.publicUrl ?? `https://localhost:${config.server.port}`),
    serverCertSha256: () => (serverSha ??= certificateFingerprint(loadServerMaterial(config, rootKey).cert)),
    provisioningValidityMinutes: config.devices.provisioningValidityMinutes,
    operationalCertDays: config.devices.operationalCertDays,
    onlineWindowSeconds: config.devices.onlineWindowSeconds,
  });
  const artifacts = new ArtifactService(
    store,
    new ArtifactRepository(store),
    new LocalFsBackend(join(config.dataDir, 'artifacts')),
    kms,
    clock,
    options.logger ?? silentLogger,
    { maxObjectBytes: config.artifacts.maxObjectBytes, segmentBytes: config.artifacts.segmentBytes },
  );
  const projects = new ProjectService(store, clock);
  const cameraRepo = new CameraRepository(store);
  const secrets = new SecretService(new SecretRepository(store), kms, projects, clock, options.secretBindings ?? new CameraSecretBindings(cameraRepo));
  const cameras = new CameraService(store, cameraRepo, secrets, clock);
  const packages = new PackageService(new PackageRepository(store), new ArtifactRepository(store), clock);
  const apps = new AppService(store, new AppRepository(store), packages, cameraRepo, devices, audit, clock);
  devices.setAppSource((deviceId, project) => apps.desiredApps(deviceId, project));
  const logs = new LogService(store, new LogRepository(store), kms, projects, audit, clock, config.logs);
  const releases = new ReleaseService(store, new ReleaseRepository(store), artifacts, devices, rootKey, audit, clock, options.logger ?? silentLogger);
  devices.setTufRootSource(() => releases.tufRootB64());
  devices.setReleaseSource(() => releases.summaries());
  const previews = new PreviewService({
    store,
    audit,
    clock,
    logger: options.logger ?? silentLogger,
    outputPreviewOn: async (project) => (await projects.settings(project)).outputPreview,
    device: async (project, name) => {
      const d = await devices.describe(project, name);
      return { id: d.id, online: d.online };
    },
    app: (project, instanceId) => apps.describe(project, instanceId),
    notify: (deviceId) => devices.notify(deviceId),
  });
  devices.setPreviewSource((deviceId) => previews.desiredPreviews(deviceId));
  return {
    store,
    rootKey,
    clock,
    audit,
    kms,
    devices,
    artifacts,
    userRepo,
    access,
    auth,
    users: new UserService(store, userRepo, access, rootKey, clock, config.auth.requireMfa),
    groups: new GroupService(store, userRepo, access, clock),
    apiKeys: new ApiKeyService(store, clock, config.auth.apiKeyMaxDays),
    projects,
    secrets,
    logs,
    cameras,
    releases,
    cameraRepo,
    packages,
    apps,
    previews,
  };
}

export function buildRoutes(s: Services): Route[] {
  const routes: Route[] = [];
  routes.push(
    ...systemRoutes(() => routes),
    ...authRoutes(s.auth, s.users, s.userRepo, s.access),
    ...consoleRoutes(s.auth, s.clock),
    ...userRoutes(s.users),
    ...groupRoutes(s.groups),
    ...apiKeyRoutes(s.apiKeys),
    ...accessRoutes(s.access, s.userRepo, s.groups),
    ...projectRoutes(s.projects),
    ...auditRoutes(s.audit),
    ...kmsRoutes(s.kms),
    ...deviceRoutes(s.devices),
    ...deviceApiRoutes(s.devices, s.logs, (deviceId, instanceId) => s.apps.deployedTo(deviceId, instanceId)),
    ...secretRoutes(s.secrets),
    ...cameraRoutes(s.cameras),
    ...logRoutes(s.logs),
    ...artifactRoutes(s.artifacts),
    ...releaseRoutes(s.releases),
    ...releaseDeviceRoutes(s.releases),
    ...packageRoutes(s.packages),
    ...appRoutes(s.apps),
    ...appDeviceApiRoutes({ devices: s.devices, apps: s.apps, artifacts: s.artifacts, cameras: s.cameraRepo, secrets: s.secrets }),
    ...previewRoutes(s.previews),
    ...previewDeviceRoutes(s.previews),
  );
  return routes;
}

export interface ControlPlane {
  server: Http2SecureServer;
  url: string;
  services: Services;
  close(): Promise<void>;
}

/** Starts the HTTPS control plane: FIPS check, root key, storage, TLS, routes. */
export async function startControlPlane(config: Config, options: ServiceOptions & { logger?: Logger } = {}): Promise<ControlPlane> {
  const logger = options.logger ?? createLogger(config.log.level);
  if (config.fips) enableFipsOrThrow();
  const rootKey = RootKey.open(config.dataDir);
  const material = loadServerMaterial(config, rootKey);
  const db = await openDatabase({ url: storageUrl(config), poolSize: config.storage.poolSize });
  let url = config.server.publicUrl ?? '';
  const services = buildServices(config, db, rootKey, { ...options, logger, controlPlaneUrl: () => url });
  await services.audit.start();
  // Before listening, so no upload is in flight: whatever a crash left is garbage.
  await services.artifacts.sweep({ olderThanMs: 0, orphans: true });
  const router = new Router(buildRoutes(services));
  const handler = createRequestHandler({
    router,
    store: services.store,
    authenticator: services.auth,
    authorizer: services.access,
    devices: services.devices,
    audit: services.audit,
    logger,
    hstsMaxAgeSeconds: config.tls.hstsMaxAgeSeconds,
    now: () => services.clock.now(),
    projectExists: (name) => services.projects.exists(name),
    fallback: consoleFallback(consoleDistDir()),
  });
  const listener = createListener(
    {
      tls: {
        ...tlsOptions({ minVersion: config.tls.minVersion, fips: config.fips }, material),
        // Devices authenticate with client certificates from the internal CA (mTLS on the
        // same port); people never send one. The pipeline decides per route.
        ...(material.caPem === undefined ? {} : { ca: material.caPem, requestCert: true, rejectUnauthorized: false }),
      },
      keepAliveTimeoutMs: 65_000,
      headersTimeoutMs: 20_000,
      // A socket that sends nothing for 2 minutes is closed (long-polls answer within 30 s,
      // appliances beat every 30 s); slow-loris stays bounded by the header timeout.
      idleTimeoutMs: 120_000,
      maxConcurrentStreams: 128,
      maxConnections: config.server.maxConnections,
    },
    handler,
  );
  const server = listener.server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = config.server.publicUrl ?? `https://localhost:${port}`;
  const sweeper = setInterval(() => {
    services.auth.sweep().catch((err: unknown) => logger.warn('session sweep failed', { error: String(err) }));
    services.kms.destroyDue().catch((err: unknown) => logger.warn('key destruction sweep failed', { error: String(err) }));
    services.logs.expire().catch((err: unknown) => logger.warn('log retention sweep failed', { error: String(err) }));
    services.artifacts.sweep({ olderThanMs: 3_600_000, orphans: false }).catch((err: unknown) => logger.warn('artifact sweep failed', { error: String(err) }));
    // Timestamp/snapshot refresh before expiry, and update jobs stuck past a stage timeout.
    services.releases.maintain().catch((err: unknown) => services.releases.logFailure('release maintenance failed', err));
    services.apps.sweepTimeouts().catch((err: unknown) => logger.warn('app stage timeout sweep failed', { error: String(err) }));
  }, 60_000);
  sweeper.unref();
  logger.info('control plane listening', { url, tlsMin: config.tls.minVersion, fips: config.fips, storage: db.engine });
  return {
    server,
    url,
    services,
    async close() {
      clearInterval(sweeper);
      services.previews.endAll();
      await services.audit.stop();
      await listener.close();
      await db.close();
    },
  };
}
