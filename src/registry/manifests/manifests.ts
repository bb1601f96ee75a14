/**
 * Manifests: get, put and delete, by tag or by digest.
 * A put reads as a recipe: check size → parse → verify digest → store bytes (flushed) → one index
 * transaction that checks the references → link revision and tag (the tag's current link last). The bytes
 * stored are exactly the bytes received; the request is answered only when all of it is durable
 * (storage/filesystem/filesystem-driver.ts says with how few flushes).
 */
import { RegistryError } from '../errors.ts';
import { digestOf, parseDigest, type Digest } from '../model/digest.ts';
import type { Reference } from '../model/reference.ts';
import type { RegistryContext } from '../context.ts';
import type { ManifestRecord } from '../ports.ts';
import { parseManifest } from './parse-manifest.ts';
import { retryWhileDeleting } from '../gc/wait-for-deletion.ts';
import type { TagImmutability } from '../policies/immutability.ts';
import { ManifestCache } from './manifest-cache.ts';

export interface StoredManifest extends ManifestRecord {
  body: Buffer;
}

export interface PutResult {
  digest: string;
  subject?: string;
}

export class Manifests {
  /** Bodies of recently served manifests: a pull storm reads the same few thousand bytes many times. */
  private readonly cache = new ManifestCache(32 * 1024 * 1024);

  constructor(
    private readonly ctx: RegistryContext,
    private readonly immutability: TagImmutability,
  ) {}

  /** The manifest's digest, media type and size, without its bytes. */
  async describe(repository: string, reference: Reference): Promise<ManifestRecord> {
    const record =
      reference.kind === 'tag'
        ? await this.ctx.index.resolveTag(repository, reference.tag)
        : await this.ctx.index.getManifest(repository, reference.digest.value);
    if (!record) throw unknownManifest(repository, reference);
    return record;
  }

  async get(repository: string, reference: Reference): Promise<StoredManifest> {
    const record = await this.describe(repository, reference); // the index decides whether it exists here
    const body = this.cache.get(record.digest) ?? (await this.ctx.storage.readBlob(parseDigest(record.digest)));
    if (!body) throw unknownManifest(repository, reference);
    this.cache.set(record.digest, body);
    return { ...record, body };
  }

  /**
   * `trustReferences`: record the manifest even though the blobs and children it references are not in the
   * repository yet (a pull-through cache stores a manifest before its layers are pulled).
   */
  async put(repository: string, reference: Reference, body: Buffer, contentType: string | undefined, options: { trustReferences?: boolean } = {}): Promise<PutResult> {
    const limit = this.ctx.options.maxManifestBytes;
    if (body.length > limit) {
      throw new RegistryError('MANIFEST_TOO_LARGE', `manifest is ${body.length} bytes; the limit is ${limit}`, { size: body.length, limit });
    }
    const parsed = parseManifest(body, contentType);
    const digest = this.verifyDigest(body, reference);
    const tag = reference.kind === 'tag' ? reference.tag : undefined;
    const tagImmutable = tag !== undefined && this.immutability.ruleFor(repository, tag) !== undefined;
    if (tagImmutable) {
      // Early, before any bytes are stored; the index transaction below checks again, atomically.
      const current = await this.ctx.index.resolveTag(repository, tag);
      if (current && current.digest !== digest.value) this.immutability.check(repository, tag, 'moved');
    }

    const write = {
      repository,
      digest: digest.value,
      mediaType: parsed.mediaType,
      size: body.length,
      blobs: parsed.blobs,
      children: parsed.children,
      ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
      ...(parsed.artifactType ? { artifactType: parsed.artifactType } : {}),
      ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      ...(tag !== undefined ? { tag } : {}),
      ...(tagImmutable ? { tagImmutable } : {}),
    };
    // Bytes first; then one index transaction that also checks every reference (so a concurrent garbage
    // collection cannot take one away in between); then the reference-layout links.
    const result = await retryWhileDeleting(async () => {
      await this.ctx.storage.putBlob(digest, body);
      const outcome = await this.ctx.index.putManifest(write, options);
      return outcome.kind === 'deleting' ? 'deleting' : outcome;
    }, digest.value);
    if (result.kind === 'immutable') this.immutability.check(repository, tag!, 'moved');
    if (result.kind === 'missing') {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references ${result.digests.length} unknown blob(s) or manifest(s) in ${repository}`, {
        digests: result.digests.slice(0, 100),
      });
    }
    await this.ctx.storage.linkManifest(repository, digest, tag);
    return { digest: digest.value, ...(parsed.subject ? { subject: parsed.subject.digest } : {}) };
  }

  /** By digest: removes the manifest and every tag on it. By tag: removes only the tag. */
  async delete(repository: string, reference: Reference): Promise<void> {
    if (!this.ctx.options.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry (storage.delete.enabled)');
    if (reference.kind === 'tag') {
      this.immutability.check(repository, reference.tag, 'deleted');
      if (!(await this.ctx.index.deleteTag(repository, reference.tag))) throw unknownManifest(repository, reference);
      await this.ctx.storage.removeTag(repository, reference.tag);
      // A lookup may have adopted the tag from storage in between (index/adopt-from-storage.ts).
      await this.ctx.index.deleteTag(repository, reference.tag);
      return;
    }
    for (const record of await this.ctx.index.tagRecords(repository)) {
      if (record.digest === reference.digest.value) this.immutability.check(repository, record.tag, 'deleted');
    }
    const tags = await this.ctx.index.deleteManifest(repository, reference.digest.value);
    if (tags === undefined) throw unknownManifest(repository, reference);
    await this.ctx.storage.unlinkRevision(repository, reference.digest);
    for (const tag of tags) await this.ctx.storage.removeTag(repository, tag);
    await this.ctx.index.deleteManifest(repository, reference.digest.value); // as above: adopted in between
  }

  private verifyDigest(body: Buffer, reference: Reference): Digest {
    if (reference.kind === 'tag') return digestOf(body, 'sha256');
    const actual = digestOf(body, reference.digest.algorithm);
    if (actual.value !== reference.digest.value) {
      throw new RegistryError('DIGEST_INVALID', 'manifest digest did not match the digest in the URL', {
        expected: reference.digest.value,
        actual: actual.value,
      });
    }
    return actual;
  }
}

function unknownManifest(repository: string, reference: Reference): RegistryError {
  const ref = reference.kind === 'tag' ? reference.tag : reference.digest.value;
  return new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { name: repository, reference: ref });
}
