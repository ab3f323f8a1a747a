export * from './errors.js';
export * from './totp/index.js';
export * from './merkle/index.js';
export * from './checkpoint/index.js';
export * from './audit-verify/index.js';
export * from './envelope/index.js';
export * from './package-signing/index.js';
export * from './release/index.js';
