export * from './validators/index.js';
export * as api from './api/identity.js';
export * as deviceApi from './api/device.js';
export * as appsApi from './api/apps.js';
export * as appManifestApi from './api/app-manifest.js';
