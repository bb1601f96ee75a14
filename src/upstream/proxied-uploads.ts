/** Upload sessions, refused in a purely proxied repository (as the reference registry's pull-through mode does). */
import type { Uploads, ChunkBody } from '../registry/uploads/uploads.ts';
import type { UploadUseCases } from '../registry/registry.ts';
import type { Digest } from '../registry/model/digest.ts';
import { pushRefused, type PullThroughContext } from './pull-through-context.ts';

export class ProxiedUploads implements UploadUseCases {
  constructor(
    private readonly inner: Uploads,
    private readonly pt: PullThroughContext,
  ) {}

  private check(repository: string): void {
    const route = this.pt.router.select(repository);
    if (route?.mode === 'proxied') throw pushRefused(route, repository);
  }

  async start(repository: string): Promise<string> {
    this.check(repository);
    return this.inner.start(repository);
  }

  async size(repository: string, id: string): Promise<number> {
    this.check(repository);
    return this.inner.size(repository, id);
  }

  async append(repository: string, id: string, body: ChunkBody): Promise<number> {
    this.check(repository);
    return this.inner.append(repository, id, body);
  }

  async complete(repository: string, id: string, digest: Digest, body?: ChunkBody): Promise<number> {
    this.check(repository);
    return this.inner.complete(repository, id, digest, body);
  }

  async cancel(repository: string, id: string): Promise<void> {
    this.check(repository);
    return this.inner.cancel(repository, id);
  }
}
