export * from './errors.js';
export * from './bundle.js';
export * from './keys.js';
export * from './tuf.js';
