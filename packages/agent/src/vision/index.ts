/**
 * The agent's model runtime: model packages and one runner process per model.
 * Preprocessing (frame → tensor) lives in the SDK (`toTensor`), in the app.
 */
export { VisionError, type VisionErrorCode } from './errors.js';
export {
  loadModelPackage,
  parseModelDescriptor,
  modelDescriptorSchema,
  ioSpec,
  inputLength,
  MODEL_DESCRIPTOR_FILE,
  MAX_MODEL_BYTES,
  type ModelDescriptor,
  type ModelPackage,
  type ModelIoSpec,
} from './model-package.js';
export { ModelRunnerClient, type ModelRunnerOptions, type ModelRunnerStats } from './model-runner-client.js';
