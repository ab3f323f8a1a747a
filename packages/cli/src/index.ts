export { buildProgram, run, CLI_VERSION } from './program.js';
export { ApiClient, checkServerUrl, type ApiClientOptions } from './client/api-client.js';
export { ProfileStore, type Profile } from './profile/profile-store.js';
export { ApiError, CliError, EXIT, type ExitCode } from './errors.js';
