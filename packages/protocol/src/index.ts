export * from './validators/index.js';
export * as api from './api/identity.js';
