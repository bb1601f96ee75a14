/** What every use case is given: the ports and the registry's options. */
import type { Clock, MetadataIndex, RegistryStorage } from './ports.ts';
import type { ImmutabilityRule } from './policies/immutability.ts';
import type { QuotaRule } from './policies/quotas.ts';

export interface RegistryOptions {
  /** storage.delete.enabled: manifest, tag and blob deletes are refused with UNSUPPORTED when false. */
  deleteEnabled: boolean;
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
  /** Tags that cannot be moved or deleted once pushed. */
  immutableTags: ImmutabilityRule[];
  /** Storage limits per repository or namespace. */
  quotas: QuotaRule[];
}

export const DEFAULT_REGISTRY_OPTIONS: RegistryOptions = {
  deleteEnabled: false,
  maxManifestBytes: 4 * 1024 * 1024,
  immutableTags: [],
  quotas: [],
};

export interface RegistryContext {
  storage: RegistryStorage;
  index: MetadataIndex;
  clock: Clock;
  options: RegistryOptions;
}
