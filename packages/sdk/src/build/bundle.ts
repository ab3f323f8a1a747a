import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseDescriptor, type AppDescriptor } from '../descriptor.js';
import { SdkError } from '../errors.js';

/**
 * Name of the bundle inside a built code package.
 *
 * @example
 * ```ts
 * join(pkgDir, BUNDLE_FILE); // <pkgDir>/app.mjs
 * ```
 */
export const BUNDLE_FILE = 'app.mjs';

/**
 * What {@link bundleApp} produced.
 *
 * @example
 * ```ts
 * const { outFile, bytes, descriptor }: BundleResult = await bundleApp(dir, out);
 * ```
 */
export interface BundleResult {
  /** Absolute path of the bundle. */
  readonly outFile: string;
  readonly bytes: number;
  /** The app's descriptor, validated. */
  readonly descriptor: AppDescriptor;
}

/**
 * Bundles an app folder (its `descriptor.json` and the entry it names) with
 * the SDK into one self-contained ES module, `app.mjs`, whose top level runs
 * the app under the agent. One file is what the permission model needs: the
 * app process may read only its package folder, so it cannot reach
 * node_modules. `sightline package build` calls this; tests call it to run an
 * app for real.
 *
 * @example
 * ```ts
 * import { bundleApp } from '@sightline/sdk/build';
 * const { outFile } = await bundleApp('examples/privacy-blur', '/tmp/pkg');
 * // /tmp/pkg/app.mjs
 * ```
 */
export async function bundleApp(appDir: string, outDir: string, options: { minify?: boolean } = {}): Promise<BundleResult> {
  const dir = resolve(appDir);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dir, 'descriptor.json'), 'utf8'));
  } catch (e) {
    throw new SdkError('DESCRIPTOR_INVALID', `Could not read ${join(dir, 'descriptor.json')}.`, { cause: e });
  }
  const descriptor = parseDescriptor(raw);
  const entry = join(dir, descriptor.entry);
  await stat(entry).catch((e: unknown) => {
    throw new SdkError('DESCRIPTOR_INVALID', `The entry ${descriptor.entry} does not exist.`, { cause: e, details: { path: 'entry' } });
  });
  const outFile = join(resolve(outDir), BUNDLE_FILE);
  await mkdir(dirname(outFile), { recursive: true });
  const esbuild = await import('esbuild');
  await esbuild.build({
    stdin: {
      contents: `import app from ${JSON.stringify(entry)};\nimport { runAppProcess } from '@sightline/sdk';\nawait runAppProcess(app);\n`,
      resolveDir: dir,
      sourcefile: 'sightline-app-main.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: outFile,
    minify: options.minify ?? false,
    legalComments: 'eof',
    logLevel: 'silent',
    // CommonJS dependencies call require(); give them one in the ES module.
    banner: { js: "import { createRequire as __slCreateRequire } from 'node:module'; const require = __slCreateRequire(import.meta.url);" },
  });
  const { size } = await stat(outFile);
  return { outFile, bytes: size, descriptor };
}
