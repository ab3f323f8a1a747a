import type { SecretBindingLookup } from '../secrets/secret-access.js';
import type { CameraRepository } from './camera.repository.js';

/**
 * Seed point 18, narrowed: a device may read a camera's credentials only
 * while it is bound to that camera. Bindings live in `camera_bindings`
 * (camera, device); `CameraService.bind` / `unbind` write them, and app
 * deployments call those as apps come and go. A secret that belongs to no
 * camera is readable by no device.
 */
export class CameraSecretBindings implements SecretBindingLookup {
  constructor(private readonly repo: CameraRepository) {}

  deviceMayRead(deviceId: string, project: string, secretName: string): Promise<boolean> {
    return this.repo.deviceBoundToSecret(deviceId, project, secretName);
  }
}
