/**
 * The privacy-blur example's app manifest as plain JSON (camera → code with
 * a face model and a threshold parameter → output): the fixture the manifest
 * tests and the server's app tests start from and break one field at a time.
 * Not exported from the package.
 */
export function privacyBlurManifest(threshold: number): {
  name: string;
  nodes: Record<string, unknown>[];
  edges: { from: string; to: string }[];
} {
  return {
    name: 'privacy-blur-door',
    nodes: [
      { name: 'camera', type: 'camera' },
      { name: 'blur', type: 'code', package: 'privacy-blur', version: '0.1.0' },
      { name: 'face', type: 'model', package: 'blazeface', version: '1.0.0' },
      { name: 'out', type: 'output' },
      { name: 'threshold', type: 'parameter', parameter: { type: 'number', default: threshold, overridable: true } },
    ],
    edges: [
      { from: 'camera', to: 'blur.video_in' },
      { from: 'face', to: 'blur.face' },
      { from: 'threshold', to: 'blur.threshold' },
      { from: 'blur.video_out', to: 'out' },
    ],
  };
}
