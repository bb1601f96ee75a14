/**
 * parseManifest: what it extracts from every supported manifest media type (blobs, children, subject,
 * artifactType, annotations) and how it refuses everything else (always MANIFEST_INVALID).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseManifest } from '../../src/registry/manifests/parse-manifest.ts';
import { RegistryError } from '../../src/registry/errors.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const FOREIGN_LAYER = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

const d = (seed: string): string => `sha256:${createHash('sha256').update(seed).digest('hex')}`;
const CONFIG = d('config');
const LAYER1 = d('layer1');
const LAYER2 = d('layer2');
const CHILD1 = d('child1');
const CHILD2 = d('child2');
const SUBJECT = d('subject');
const EMPTY = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

const desc = (mediaType: string, digest: string, size = 10, extra: Record<string, unknown> = {}) => ({ mediaType, digest, size, ...extra });

function body(value: unknown): Buffer {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
}

function ociManifest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: desc(OCI_CONFIG, CONFIG),
    layers: [desc(OCI_LAYER, LAYER1), desc(OCI_LAYER, LAYER2)],
    ...extra,
  };
}

function ociIndex(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      desc(OCI_MANIFEST, CHILD1, 500, { platform: { os: 'linux', architecture: 'amd64' } }),
      desc(OCI_MANIFEST, CHILD2, 600, { platform: { os: 'linux', architecture: 'arm64' } }),
    ],
    ...extra,
  };
}

function expectInvalid(value: unknown, contentType: string | undefined, pattern?: RegExp): void {
  assert.throws(
    () => parseManifest(body(value), contentType),
    (error: unknown) => {
      assert.ok(RegistryError.is(error), `expected a RegistryError, got ${String(error)}`);
      assert.equal(error.code, 'MANIFEST_INVALID');
      if (pattern) assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('parseManifest: OCI image manifest', () => {
  it('extracts config and layer blobs, in order, and the config media type as artifactType', () => {
    const parsed = parseManifest(body(ociManifest()), OCI_MANIFEST);
    assert.equal(parsed.mediaType, OCI_MANIFEST);
    assert.deepEqual(parsed.blobs, [CONFIG, LAYER1, LAYER2]);
    assert.deepEqual(parsed.children, []);
    assert.equal(parsed.subject, undefined);
    assert.equal(parsed.artifactType, OCI_CONFIG);
  });

  it('deduplicates blobs referenced twice', () => {
    const parsed = parseManifest(body(ociManifest({ layers: [desc(OCI_LAYER, LAYER1), desc(OCI_LAYER, LAYER1)] })), OCI_MANIFEST);
    assert.deepEqual(parsed.blobs, [CONFIG, LAYER1]);
  });

  it('does not require foreign layers (with urls) to be in the registry', () => {
    const manifest = ociManifest({ layers: [desc(OCI_LAYER, LAYER1), desc(FOREIGN_LAYER, LAYER2, 10, { urls: ['https://example.com/l'] })] });
    assert.deepEqual(parseManifest(body(manifest), OCI_MANIFEST).blobs, [CONFIG, LAYER1]);
  });

  it('ignores Content-Type parameters and case', () => {
    assert.equal(parseManifest(body(ociManifest()), `${OCI_MANIFEST}; charset=utf-8`).mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(body(ociManifest()), OCI_MANIFEST.toUpperCase()).mediaType, OCI_MANIFEST);
  });

  it('accepts a manifest without mediaType when Content-Type says it is an OCI manifest', () => {
    const { mediaType: _omit, ...untyped } = ociManifest();
    const parsed = parseManifest(body(untyped), OCI_MANIFEST);
    assert.equal(parsed.mediaType, OCI_MANIFEST);
    assert.deepEqual(parsed.blobs, [CONFIG, LAYER1, LAYER2]);
  });

  it('without Content-Type, the body mediaType decides; without either, the shape does', () => {
    assert.equal(parseManifest(body(ociManifest()), undefined).mediaType, OCI_MANIFEST);
    assert.equal(parseManifest(body(ociManifest()), 'application/json').mediaType, OCI_MANIFEST);
    const { mediaType: _m, ...untyped } = ociManifest();
    assert.equal(parseManifest(body(untyped), undefined).mediaType, OCI_MANIFEST);
    const { mediaType: _i, ...untypedIndex } = ociIndex();
    assert.equal(parseManifest(body(untypedIndex), '').mediaType, OCI_INDEX);
  });

  it('extracts the subject descriptor and the manifest annotations', () => {
    const subject = desc(OCI_MANIFEST, SUBJECT, 1234);
    const parsed = parseManifest(body(ociManifest({ subject, annotations: { 'org.example.k': 'v' } })), OCI_MANIFEST);
    assert.deepEqual(parsed.subject, subject);
    assert.deepEqual(parsed.annotations, { 'org.example.k': 'v' });
  });

  it('keeps exact byte semantics: the parse does not depend on whitespace', () => {
    const pretty = Buffer.from(JSON.stringify(ociManifest(), null, 3));
    assert.deepEqual(parseManifest(pretty, OCI_MANIFEST).blobs, [CONFIG, LAYER1, LAYER2]);
  });
});

describe('parseManifest: OCI artifact manifest', () => {
  const artifact = (extra: Record<string, unknown> = {}) =>
    ociManifest({
      artifactType: 'application/vnd.example.sbom.v1',
      config: desc(OCI_EMPTY, EMPTY, 2),
      layers: [desc('application/vnd.example.sbom.v1+json', LAYER1)],
      ...extra,
    });

  it('uses artifactType, not the empty config media type, and keeps the empty config as a blob', () => {
    const parsed = parseManifest(body(artifact()), OCI_MANIFEST);
    assert.equal(parsed.artifactType, 'application/vnd.example.sbom.v1');
    assert.deepEqual(parsed.blobs, [EMPTY, LAYER1]);
  });

  it('an artifact with a subject: subject extracted (the subject need not exist)', () => {
    const subject = desc(OCI_MANIFEST, SUBJECT, 99);
    const parsed = parseManifest(body(artifact({ subject, annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } })), OCI_MANIFEST);
    assert.equal(parsed.subject?.digest, SUBJECT);
    assert.equal(parsed.subject?.size, 99);
    assert.equal(parsed.annotations?.['org.opencontainers.image.created'], '2024-01-01T00:00:00Z');
    // The subject is not a blob that must exist.
    assert.ok(!parsed.blobs.includes(SUBJECT));
    assert.ok(!parsed.children.includes(SUBJECT));
  });

  it('an empty config without artifactType is MANIFEST_INVALID', () => {
    const { artifactType: _a, ...noType } = artifact();
    expectInvalid(noType, OCI_MANIFEST, /artifactType/);
  });

  it('a malformed artifactType is MANIFEST_INVALID', () => {
    expectInvalid(artifact({ artifactType: 'not a media type' }), OCI_MANIFEST);
    expectInvalid(artifact({ artifactType: 42 }), OCI_MANIFEST);
  });
});

describe('parseManifest: OCI image index', () => {
  it('extracts the child manifests, no blobs, and no artifactType unless declared', () => {
    const parsed = parseManifest(body(ociIndex()), OCI_INDEX);
    assert.equal(parsed.mediaType, OCI_INDEX);
    assert.deepEqual(parsed.children, [CHILD1, CHILD2]);
    assert.deepEqual(parsed.blobs, []);
    assert.equal(parsed.artifactType, undefined);
  });

  it('an index with artifactType, subject and annotations', () => {
    const subject = desc(OCI_MANIFEST, SUBJECT, 5);
    const parsed = parseManifest(body(ociIndex({ artifactType: 'application/vnd.example.bundle', subject, annotations: { a: 'b' } })), OCI_INDEX);
    assert.equal(parsed.artifactType, 'application/vnd.example.bundle');
    assert.deepEqual(parsed.subject, subject);
    assert.deepEqual(parsed.annotations, { a: 'b' });
  });

  it('an index with an empty manifests list is valid', () => {
    assert.deepEqual(parseManifest(body(ociIndex({ manifests: [] })), OCI_INDEX).children, []);
  });

  it('an index without "manifests" is MANIFEST_INVALID', () => {
    const { manifests: _m, ...none } = ociIndex();
    expectInvalid(none, OCI_INDEX);
  });

  it('an index whose "manifests" is null is MANIFEST_INVALID (a required array)', () => {
    expectInvalid(ociIndex({ manifests: null }), OCI_INDEX);
    expectInvalid(ociIndex({ mediaType: DOCKER_LIST, manifests: null }), DOCKER_LIST);
  });

  it('an index whose "manifests" is not a list is MANIFEST_INVALID', () => {
    expectInvalid(ociIndex({ manifests: {} }), OCI_INDEX);
    expectInvalid(ociIndex({ manifests: 'x' }), OCI_INDEX);
  });

  it('an index with config or layers is MANIFEST_INVALID', () => {
    expectInvalid(ociIndex({ config: desc(OCI_CONFIG, CONFIG) }), OCI_INDEX);
    expectInvalid(ociIndex({ layers: [] }), OCI_INDEX);
  });
});

describe('parseManifest: Docker schema 2 and manifest list', () => {
  const docker = (extra: Record<string, unknown> = {}) => ({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: desc(DOCKER_CONFIG, CONFIG),
    layers: [desc(DOCKER_LAYER, LAYER1)],
    ...extra,
  });

  it('a Docker schema 2 manifest: config and layers as blobs', () => {
    const parsed = parseManifest(body(docker()), DOCKER_MANIFEST);
    assert.equal(parsed.mediaType, DOCKER_MANIFEST);
    assert.deepEqual(parsed.blobs, [CONFIG, LAYER1]);
    assert.deepEqual(parsed.children, []);
  });

  it('a Docker manifest without layers is MANIFEST_INVALID', () => {
    const { layers: _l, ...noLayers } = docker();
    expectInvalid(noLayers, DOCKER_MANIFEST, /layers/);
  });

  it('a Docker manifest list: children extracted', () => {
    const list = {
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [desc(DOCKER_MANIFEST, CHILD1, 7, { platform: { os: 'linux', architecture: 'amd64' } })],
    };
    const parsed = parseManifest(body(list), DOCKER_LIST);
    assert.equal(parsed.mediaType, DOCKER_LIST);
    assert.deepEqual(parsed.children, [CHILD1]);
    assert.deepEqual(parsed.blobs, []);
  });

  it('a Docker manifest with a foreign layer only requires the config', () => {
    const m = docker({ layers: [desc(FOREIGN_LAYER, LAYER1, 10, { urls: ['https://mcr.microsoft.com/x'] })] });
    assert.deepEqual(parseManifest(body(m), DOCKER_MANIFEST).blobs, [CONFIG]);
  });
});

describe('parseManifest: refusals (all MANIFEST_INVALID)', () => {
  it('malformed JSON', () => {
    for (const text of ['', '{', '{"schemaVersion":2,', 'null', 'nul', '\u0000', '{"a":1}}']) expectInvalid(text, OCI_MANIFEST);
  });

  it('JSON that is not an object', () => {
    for (const v of [[], 2, 'str', true, null]) expectInvalid(JSON.stringify(v), OCI_MANIFEST);
  });

  it('body mediaType mismatching Content-Type', () => {
    expectInvalid(ociManifest(), OCI_INDEX, /does not match/);
    expectInvalid(ociManifest({ mediaType: DOCKER_MANIFEST }), OCI_MANIFEST, /does not match/);
    expectInvalid(ociIndex(), DOCKER_LIST, /does not match/);
  });

  it('a non-string mediaType', () => {
    expectInvalid(ociManifest({ mediaType: 7 }), OCI_MANIFEST);
  });

  it('an unsupported Content-Type or body mediaType', () => {
    expectInvalid(ociManifest({ mediaType: 'application/vnd.example+json' }), undefined, /unsupported/);
    expectInvalid(ociManifest(), 'text/plain');
  });

  it('Docker schema 1, by Content-Type or by schemaVersion', () => {
    const schema1 = { schemaVersion: 1, name: 'x', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [] };
    expectInvalid(schema1, SCHEMA1, /schema 1/);
    expectInvalid(schema1, SCHEMA1_SIGNED, /schema 1/);
    expectInvalid(schema1, undefined, /schema 1/);
    expectInvalid(schema1, 'application/json', /schema 1/);
  });

  it('schemaVersion other than 2', () => {
    for (const v of [3, '2', null, 2.5]) expectInvalid(ociManifest({ schemaVersion: v }), OCI_MANIFEST);
    const { schemaVersion: _s, ...none } = ociManifest();
    expectInvalid(none, OCI_MANIFEST);
  });

  it('an image manifest without config', () => {
    const { config: _c, ...none } = ociManifest();
    expectInvalid(none, OCI_MANIFEST);
    expectInvalid(ociManifest({ config: null }), OCI_MANIFEST);
  });

  it('an OCI image manifest without layers (required by the image-spec schema)', () => {
    const { layers: _l, ...none } = ociManifest();
    expectInvalid(none, OCI_MANIFEST);
  });

  it('an image manifest whose layers is null (a required array)', () => {
    expectInvalid(ociManifest({ layers: null }), OCI_MANIFEST);
    expectInvalid({ schemaVersion: 2, mediaType: DOCKER_MANIFEST, config: desc(DOCKER_CONFIG, CONFIG), layers: null }, DOCKER_MANIFEST);
  });

  it('an image manifest whose layers is not a list', () => {
    expectInvalid(ociManifest({ layers: {} }), OCI_MANIFEST);
    expectInvalid(ociManifest({ layers: desc(OCI_LAYER, LAYER1) }), OCI_MANIFEST);
  });

  it('an image manifest with "manifests"', () => {
    expectInvalid(ociManifest({ manifests: [] }), OCI_MANIFEST);
  });

  it('a descriptor with a bad digest', () => {
    for (const digest of ['sha256:abc', `md5:${'a'.repeat(32)}`, `sha256:${'A'.repeat(64)}`, '', 5, null, undefined]) {
      expectInvalid(ociManifest({ config: { mediaType: OCI_CONFIG, digest, size: 2 } }), OCI_MANIFEST);
      expectInvalid(ociManifest({ layers: [desc(OCI_LAYER, LAYER1), { mediaType: OCI_LAYER, digest, size: 2 }] }), OCI_MANIFEST);
      expectInvalid(ociIndex({ manifests: [{ mediaType: OCI_MANIFEST, digest, size: 2 }] }), OCI_INDEX);
      expectInvalid(ociManifest({ subject: { mediaType: OCI_MANIFEST, digest, size: 2 } }), OCI_MANIFEST);
    }
  });

  it('a descriptor with a bad size', () => {
    for (const size of [-1, 1.5, '10', null, undefined, Number.MAX_SAFE_INTEGER + 2, 1e300]) {
      expectInvalid(ociManifest({ config: { mediaType: OCI_CONFIG, digest: CONFIG, size } }), OCI_MANIFEST);
      expectInvalid(ociManifest({ layers: [{ mediaType: OCI_LAYER, digest: LAYER1, size }] }), OCI_MANIFEST);
      expectInvalid(ociIndex({ manifests: [{ mediaType: OCI_MANIFEST, digest: CHILD1, size }] }), OCI_INDEX);
    }
  });

  it('a descriptor with a missing or malformed mediaType', () => {
    expectInvalid(ociManifest({ config: { digest: CONFIG, size: 2 } }), OCI_MANIFEST);
    expectInvalid(ociManifest({ layers: [{ mediaType: 'no-slash', digest: LAYER1, size: 2 }] }), OCI_MANIFEST);
  });

  it('a descriptor that is not an object', () => {
    expectInvalid(ociManifest({ layers: ['sha256:x'] }), OCI_MANIFEST);
    expectInvalid(ociIndex({ manifests: [null] }), OCI_INDEX);
  });

  it('annotations that do not map strings to strings', () => {
    expectInvalid(ociManifest({ annotations: { a: 1 } }), OCI_MANIFEST);
    expectInvalid(ociManifest({ annotations: ['a'] }), OCI_MANIFEST);
    expectInvalid(ociManifest({ layers: [desc(OCI_LAYER, LAYER1, 1, { annotations: { a: null } })] }), OCI_MANIFEST);
  });

  it('urls that are not a list of strings', () => {
    expectInvalid(ociManifest({ layers: [desc(FOREIGN_LAYER, LAYER1, 1, { urls: 'https://x' })] }), OCI_MANIFEST);
    expectInvalid(ociManifest({ layers: [desc(FOREIGN_LAYER, LAYER1, 1, { urls: [1] })] }), OCI_MANIFEST);
  });
});

describe('parseManifest: properties', () => {
  const onlyManifestInvalid = (bytes: Uint8Array, contentType: string | undefined): void => {
    try {
      parseManifest(Buffer.from(bytes), contentType);
    } catch (error) {
      assert.ok(RegistryError.is(error), `non-RegistryError thrown: ${String(error)}`);
      assert.equal(error.code, 'MANIFEST_INVALID');
    }
  };
  const contentTypes = fc.constantFrom(undefined, '', OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, SCHEMA1, 'application/json', 'text/plain');

  it('random bytes never throw anything but a RegistryError MANIFEST_INVALID', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), contentTypes, onlyManifestInvalid), { numRuns: 1000 });
  });

  it('random JSON values never throw anything but a RegistryError MANIFEST_INVALID', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), contentTypes, (value, ct) => onlyManifestInvalid(body(JSON.stringify(value) ?? 'null'), ct)),
      { numRuns: 1000 },
    );
  });

  it('manifests with randomly replaced fields either parse or are MANIFEST_INVALID', () => {
    const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
    const keys = fc.constantFrom('schemaVersion', 'mediaType', 'config', 'layers', 'manifests', 'subject', 'artifactType', 'annotations', '__proto__', 'constructor');
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.tuple(keys, anyValue), { maxLength: 4 }), contentTypes, (index, edits, ct) => {
        const value: Record<string, unknown> = index ? ociIndex() : ociManifest();
        for (const [k, v] of edits) value[k] = v;
        onlyManifestInvalid(body(JSON.stringify(value)), ct);
      }),
      { numRuns: 1000 },
    );
  });

  it('any well-formed image manifest parses, with exactly its non-foreign descriptors as blobs', () => {
    const digest = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => `sha256:${createHash('sha256').update(b).digest('hex')}`);
    const layer = fc.record({ digest, size: fc.nat(), foreign: fc.boolean() });
    fc.assert(
      fc.property(digest, fc.array(layer, { minLength: 1, maxLength: 6 }), (config, layers) => {
        const manifest = ociManifest({
          config: desc(OCI_CONFIG, config, 3),
          layers: layers.map((l) => desc(l.foreign ? FOREIGN_LAYER : OCI_LAYER, l.digest, l.size, l.foreign ? { urls: ['https://e.x/l'] } : {})),
        });
        const parsed = parseManifest(body(manifest), OCI_MANIFEST);
        const expected = [...new Set([config, ...layers.filter((l) => !l.foreign).map((l) => l.digest)])];
        assert.deepEqual(parsed.blobs, expected);
      }),
    );
  });
});
