export * from './validators/index.js';
export * as api from './api/identity.js';
export * as deviceApi from './api/device.js';
