/**
 * Which upstream (if any) serves a repository: the upstream with the longest matching prefix, else the
 * default upstream (prefix ''), else none (the repository is local). The name sent upstream is the
 * repository name without the prefix (`hub/library/alpine` → `library/alpine`), with `library/` added to a
 * one-component name for Docker Hub (`alpine` → `library/alpine`).
 */
import { compilePattern } from '../registry/policies/patterns.ts';
import type { UpstreamClient } from './client/oci-client.ts';
import type { RepositoryMode, UpstreamSettings } from './upstream-settings.ts';

export interface UpstreamRoute {
  client: UpstreamClient;
  settings: UpstreamSettings;
  /** The repository's name at the upstream. */
  remoteName: string;
  mode: RepositoryMode;
  /** The upstream's allow/deny patterns exclude this repository. */
  denied: boolean;
}

interface Entry {
  client: UpstreamClient;
  allow: RegExp[];
  deny: RegExp[];
}

export class UpstreamRouter {
  private readonly entries: Entry[];

  constructor(clients: UpstreamClient[]) {
    // Longest prefix first; the default upstream ('') last.
    this.entries = [...clients]
      .sort((a, b) => b.settings.prefix.length - a.settings.prefix.length)
      .map((client) => ({ client, allow: client.settings.allow.map(compilePattern), deny: client.settings.deny.map(compilePattern) }));
  }

  select(repository: string): UpstreamRoute | undefined {
    for (const { client, allow, deny } of this.entries) {
      const { prefix } = client.settings;
      if (prefix !== '' && !(repository.startsWith(prefix) && repository.length > prefix.length)) continue;
      let remoteName = repository.slice(prefix.length);
      if (client.settings.officialImages && !remoteName.includes('/')) remoteName = `library/${remoteName}`;
      const denied = deny.some((p) => p.test(remoteName)) || (allow.length > 0 && !allow.some((p) => p.test(remoteName)));
      if (client.settings.mode === 'local') return undefined;
      return { client, settings: client.settings, remoteName, mode: client.settings.mode, denied };
    }
    return undefined;
  }

  get clients(): UpstreamClient[] {
    return this.entries.map((e) => e.client);
  }
}
