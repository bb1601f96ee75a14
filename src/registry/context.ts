/** What every use case is given: the ports and the registry's options. */
import type { Clock, MetadataIndex, RegistryStorage } from './ports.ts';

export interface RegistryOptions {
  /** storage.delete.enabled: manifest, tag and blob deletes are refused with UNSUPPORTED when false. */
  deleteEnabled: boolean;
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
}

export const DEFAULT_REGISTRY_OPTIONS: RegistryOptions = {
  deleteEnabled: false,
  maxManifestBytes: 4 * 1024 * 1024,
};

export interface RegistryContext {
  storage: RegistryStorage;
  index: MetadataIndex;
  clock: Clock;
  options: RegistryOptions;
}
