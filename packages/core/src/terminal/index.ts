export * from './hidden-input.js';
