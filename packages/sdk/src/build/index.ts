/**
 * Bundling an app into the single module the agent runs.
 *
 * @example
 * ```ts
 * import { bundleApp } from '@sightline/sdk/build';
 * await bundleApp('examples/privacy-blur', 'dist/privacy-blur');
 * ```
 */
export { bundleApp, BUNDLE_FILE, type BundleResult } from './bundle.js';
