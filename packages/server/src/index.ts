export { startControlPlane, buildServices, buildRoutes, type ControlPlane, type Services } from './app.js';
export { initDataDir, type InitResult } from './init/init.js';
export { loadConfig, type Config } from './config/config.js';
