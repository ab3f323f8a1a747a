export * from './errors.js';
export * from './totp/index.js';
