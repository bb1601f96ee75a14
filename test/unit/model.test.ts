/**
 * The parsers and validators of src/registry/model: repository names, tags, digests, references, the
 * `Range` header of a blob GET and the `Content-Range` of an upload chunk. Example-based tables plus
 * fast-check properties drawn from the OCI Distribution grammar.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RegistryError, type ErrorCode } from '../../src/registry/errors.ts';
import { MAX_NAME_LENGTH, isRepositoryName, parseRepositoryName } from '../../src/registry/model/repository-name.ts';
import { isTag, parseTag } from '../../src/registry/model/tag.ts';
import { digestOf, parseDigest } from '../../src/registry/model/digest.ts';
import { parseReference } from '../../src/registry/model/reference.ts';
import { parseContentRange, resolveRangeHeader } from '../../src/registry/model/byte-range.ts';

function throwsCode(fn: () => unknown, code: ErrorCode | ErrorCode[]): void {
  const wanted = Array.isArray(code) ? code : [code];
  assert.throws(fn, (error: unknown) => {
    assert.ok(RegistryError.is(error), `expected a RegistryError, got ${String(error)}`);
    assert.ok(wanted.includes(error.code), `expected ${wanted.join('|')}, got ${error.code}`);
    return true;
  });
}

// ---------------------------------------------------------------- generators from the spec grammar
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
const alnumRun = fc.array(fc.constantFrom(...ALNUM), { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
const separator = fc.oneof(fc.constant('.'), fc.constant('_'), fc.constant('__'), fc.integer({ min: 1, max: 3 }).map((n) => '-'.repeat(n)));
const component = fc
  .tuple(alnumRun, fc.array(fc.tuple(separator, alnumRun), { maxLength: 3 }))
  .map(([first, rest]) => first + rest.map(([s, a]) => s + a).join(''));
const grammarName = fc.array(component, { minLength: 1, maxLength: 5 }).map((c) => c.join('/'));
const NAME_CHARS = [...ALNUM, '.', '_', '-', '/'];
const nameAlphabetString = fc.array(fc.constantFrom(...NAME_CHARS), { minLength: 1, maxLength: 40 }).map((a) => a.join(''));

const TAG_FIRST = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'];
const TAG_REST = [...TAG_FIRST, '.', '-'];
const grammarTag = fc
  .tuple(fc.constantFrom(...TAG_FIRST), fc.array(fc.constantFrom(...TAG_REST), { maxLength: 127 }))
  .map(([f, r]) => f + r.join(''));

// ---------------------------------------------------------------- repository names
describe('repository names', () => {
  const valid = [
    'a',
    'library/ubuntu',
    'foo/bar/baz',
    'my-app',
    'my--app',
    'my---app',
    'my_app',
    'my__app',
    'my.app',
    'a0.b1_c2__d3-e4',
    '0',
    '9abc/x-y/z.z',
  ];
  for (const name of valid) {
    it(`accepts ${JSON.stringify(name)}`, () => {
      assert.equal(isRepositoryName(name), true);
      assert.equal(parseRepositoryName(name), name);
    });
  }

  const invalid: Array<[string, string]> = [
    ['', 'empty'],
    ['..', 'dot-dot'],
    ['.', 'single dot'],
    ['../etc', 'leading traversal'],
    ['a/../b', 'traversal segment'],
    ['a/./b', 'dot segment'],
    ['a/..', 'trailing traversal'],
    ['/a', 'leading slash'],
    ['a/', 'trailing slash'],
    ['a//b', 'empty segment'],
    ['Foo', 'uppercase'],
    ['library/Ubuntu', 'uppercase in a later component'],
    ['a..b', 'double dot separator'],
    ['a.-b', 'mixed separators'],
    ['a___b', 'triple underscore'],
    ['_a', 'leading separator'],
    ['a_', 'trailing separator'],
    ['-a', 'leading dash'],
    ['a-', 'trailing dash'],
    ['a b', 'space'],
    ['a:b', 'colon'],
    ['a@b', 'at sign'],
    ['a\\b', 'backslash'],
    ['a%2fb', 'percent'],
    ['a\0b', 'NUL'],
    ['a\nb', 'newline'],
    ['ü', 'non-ASCII'],
    ['a/.b', 'component starting with a dot'],
  ];
  for (const [name, why] of invalid) {
    it(`rejects ${JSON.stringify(name)} (${why}) with NAME_INVALID`, () => {
      assert.equal(isRepositoryName(name), false);
      throwsCode(() => parseRepositoryName(name), 'NAME_INVALID');
    });
  }

  it(`accepts exactly ${MAX_NAME_LENGTH} characters and rejects ${MAX_NAME_LENGTH + 1}`, () => {
    assert.equal(MAX_NAME_LENGTH, 255);
    const at = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    assert.equal(at.length, 255);
    assert.equal(parseRepositoryName(at), at);
    throwsCode(() => parseRepositoryName(`${at}c`), 'NAME_INVALID');
    throwsCode(() => parseRepositoryName('a'.repeat(100_000)), 'NAME_INVALID');
  });

  it('rejects a very long name quickly (no catastrophic backtracking)', () => {
    const started = performance.now();
    for (const evil of ['a-'.repeat(5000) + '!', 'a.'.repeat(5000), '-'.repeat(10_000) + 'a', 'a' + '-'.repeat(250) + '!']) {
      assert.equal(isRepositoryName(evil), false);
    }
    assert.ok(performance.now() - started < 500);
  });

  it('property: every name generated from the grammar (≤255 chars) parses to itself', () => {
    fc.assert(
      fc.property(
        grammarName.filter((n) => n.length <= 255),
        (name) => parseRepositoryName(name) === name,
      ),
      { numRuns: 500 },
    );
  });

  it('property: a grammar name longer than 255 characters is rejected', () => {
    fc.assert(
      fc.property(grammarName, fc.integer({ min: 1, max: 300 }), (name, extra) => {
        const long = `${name}/${'a'.repeat(Math.max(extra, 256 - name.length))}`;
        assert.ok(long.length > 255);
        throwsCode(() => parseRepositoryName(long), 'NAME_INVALID');
      }),
    );
  });

  it('property: a string with any character outside [a-z0-9._/-] is rejected', () => {
    const bad = fc.string({ minLength: 1, maxLength: 3 }).filter((s) => /[^a-z0-9._/-]/.test(s));
    fc.assert(
      fc.property(grammarName, bad, fc.nat(), (name, inject, at) => {
        const i = at % (name.length + 1);
        const s = name.slice(0, i) + inject + name.slice(i);
        assert.equal(isRepositoryName(s), false, JSON.stringify(s));
        throwsCode(() => parseRepositoryName(s), 'NAME_INVALID');
      }),
      { numRuns: 500 },
    );
  });

  it('property: an accepted name never has "." or ".." segments, empty segments, nor "/" at either end', () => {
    fc.assert(
      fc.property(fc.oneof(nameAlphabetString, grammarName), (s) => {
        if (!isRepositoryName(s)) return;
        assert.ok(!s.startsWith('/') && !s.endsWith('/'), s);
        for (const segment of s.split('/')) {
          assert.notEqual(segment, '');
          assert.notEqual(segment, '.');
          assert.notEqual(segment, '..');
          assert.ok(!segment.includes('..'), s);
          assert.match(segment, /^[a-z0-9]/);
          assert.match(segment, /[a-z0-9]$/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('property: dot-segment injections into valid names are always rejected', () => {
    const traversal = fc.constantFrom('..', '.', '', '../..', './.');
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 4 }), traversal, fc.nat(), (parts, bad, at) => {
        const copy = [...parts];
        copy.splice(at % (copy.length + 1), 0, bad);
        return !isRepositoryName(copy.join('/'));
      }),
    );
  });
});

// ---------------------------------------------------------------- tags
describe('tags', () => {
  for (const tag of ['latest', 'v1.0.0', '1', '_', '_hidden', 'A', 'UPPER-lower_1.2', 'a'.repeat(128), 'sha256-abc.sig', '0.-_']) {
    it(`accepts ${JSON.stringify(tag.length > 20 ? `${tag.slice(0, 10)}…(${tag.length})` : tag)}`, () => {
      assert.equal(isTag(tag), true);
      assert.equal(parseTag(tag), tag);
    });
  }
  for (const tag of ['', '.hidden', '-dash', 'a'.repeat(129), 'a/b', 'a:b', 'a+b', 'a b', 'a@b', 'ü', 'tag\n', '..', 'a%20']) {
    it(`rejects ${JSON.stringify(tag.length > 20 ? `${tag.slice(0, 10)}…(${tag.length})` : tag)} with TAG_INVALID`, () => {
      assert.equal(isTag(tag), false);
      throwsCode(() => parseTag(tag), 'TAG_INVALID');
    });
  }

  it('property: every tag of the grammar is accepted', () => {
    fc.assert(fc.property(grammarTag, (tag) => isTag(tag) && parseTag(tag) === tag), { numRuns: 500 });
  });

  it('property: a tag with a character outside [a-zA-Z0-9._-] or longer than 128 is rejected', () => {
    const bad = fc.string({ minLength: 1, maxLength: 2 }).filter((s) => /[^a-zA-Z0-9._-]/.test(s));
    fc.assert(
      fc.property(grammarTag, bad, fc.nat(), (tag, inject, at) => {
        const i = at % (tag.length + 1);
        return !isTag(tag.slice(0, i) + inject + tag.slice(i));
      }),
    );
    fc.assert(fc.property(grammarTag, (tag) => !isTag(tag + 'x'.repeat(129 - tag.length + 1))));
  });
});

// ---------------------------------------------------------------- digests
describe('digests', () => {
  const hex64 = 'a'.repeat(64);
  const hex128 = 'b'.repeat(128);

  it('parses sha256 and sha512 digests into algorithm, hex and value', () => {
    assert.deepEqual(parseDigest(`sha256:${hex64}`), { algorithm: 'sha256', hex: hex64, value: `sha256:${hex64}` });
    assert.deepEqual(parseDigest(`sha512:${hex128}`), { algorithm: 'sha512', hex: hex128, value: `sha512:${hex128}` });
  });

  it('computes the well-known digests of the empty string', () => {
    assert.equal(digestOf(new Uint8Array()).value, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(
      digestOf(new Uint8Array(), 'sha512').value,
      'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    );
  });

  const invalid: Array<[string, string]> = [
    ['', 'empty'],
    ['sha256', 'no colon'],
    ['sha256:', 'no hex'],
    [`:${hex64}`, 'no algorithm'],
    [`SHA256:${hex64}`, 'uppercase algorithm'],
    [`sha256:${'A'.repeat(64)}`, 'uppercase hex'],
    [`sha256:${'a'.repeat(63)}`, 'short sha256'],
    [`sha256:${'a'.repeat(65)}`, 'long sha256'],
    [`sha256:${hex128}`, 'sha512 length under sha256'],
    [`sha512:${hex64}`, 'sha256 length under sha512'],
    [`sha512:${'a'.repeat(127)}`, 'short sha512'],
    [`sha256:${'g'.repeat(64)}`, 'non-hex'],
    [`sha256:${'a'.repeat(63)}=`, 'base64 padding'],
    [`md5:${'a'.repeat(32)}`, 'md5'],
    [`sha384:${'a'.repeat(96)}`, 'sha384'],
    [`blake3:${hex64}`, 'blake3'],
    [`sha256+b64u:${hex64}`, 'algorithm with a + component'],
    [`sha256:${hex64} `, 'trailing space'],
    [` sha256:${hex64}`, 'leading space'],
    [`sha256:${hex64}\n`, 'trailing newline'],
    [`sha256::${hex64}`, 'double colon'],
    [`sha256:../../${'a'.repeat(58)}`, 'path traversal'],
    [`sha256:${'a'.repeat(100_000)}`, 'huge'],
  ];
  for (const [text, why] of invalid) {
    it(`rejects ${why} with DIGEST_INVALID`, () => throwsCode(() => parseDigest(text), 'DIGEST_INVALID'));
  }

  it('property: digestOf(bytes) round-trips through parseDigest and matches node:crypto', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.constantFrom('sha256' as const, 'sha512' as const), (data, algorithm) => {
        const digest = digestOf(data, algorithm);
        assert.deepEqual(parseDigest(digest.value), digest);
        assert.equal(digest.hex, createHash(algorithm).update(data).digest('hex'));
        assert.equal(digest.value, `${algorithm}:${digest.hex}`);
      }),
      { numRuns: 300 },
    );
  });

  it('property: any string that is not `sha256:<64 hex>` or `sha512:<128 hex>` is rejected with DIGEST_INVALID', () => {
    const oracle = (s: string) => /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/.test(s);
    const nearDigest = fc
      .tuple(
        fc.constantFrom('sha256', 'sha512', 'sha384', 'md5', 'SHA256', 'sha256+x', ''),
        fc.constantFrom(':', '', '::'),
        fc.array(fc.constantFrom(...'0123456789abcdefABCDEFg=_-'.split('')), { minLength: 0, maxLength: 130 }),
      )
      .map(([a, c, h]) => a + c + h.join(''));
    fc.assert(
      fc.property(fc.oneof(nearDigest, fc.string({ maxLength: 140 })), (s) => {
        if (oracle(s)) assert.equal(parseDigest(s).value, s);
        else throwsCode(() => parseDigest(s), 'DIGEST_INVALID');
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------- references
describe('references', () => {
  const hex = 'c'.repeat(64);
  it('a tag-shaped reference is a tag', () => {
    assert.deepEqual(parseReference('latest'), { kind: 'tag', tag: 'latest' });
    assert.deepEqual(parseReference('v1.2.3_rc-1'), { kind: 'tag', tag: 'v1.2.3_rc-1' });
  });
  it('a digest-shaped reference is a parsed digest', () => {
    const ref = parseReference(`sha256:${hex}`);
    assert.equal(ref.kind, 'digest');
    assert.equal(ref.kind === 'digest' && ref.digest.value, `sha256:${hex}`);
    const ref512 = parseReference(`sha512:${'d'.repeat(128)}`);
    assert.equal(ref512.kind === 'digest' && ref512.digest.algorithm, 'sha512');
  });
  it('a malformed digest reference is DIGEST_INVALID', () => {
    throwsCode(() => parseReference('sha256:abc'), 'DIGEST_INVALID');
    throwsCode(() => parseReference(`md5:${'a'.repeat(32)}`), 'DIGEST_INVALID');
  });
  it('something that is neither a tag nor a digest is refused with a client error code', () => {
    for (const bad of ['', '-x', '.x', 'a/b', 'a'.repeat(129), 'a b', '..']) {
      throwsCode(() => parseReference(bad), ['TAG_INVALID', 'MANIFEST_INVALID', 'DIGEST_INVALID']);
    }
  });
  it('property: every grammar tag is a tag reference', () => {
    fc.assert(fc.property(grammarTag, (tag) => {
      const ref = parseReference(tag);
      return ref.kind === 'tag' && ref.tag === tag;
    }));
  });
});

// ---------------------------------------------------------------- Range (blob GET)
describe('Range header resolution', () => {
  const size = 100;
  const table: Array<[string | undefined, number, ReturnType<typeof resolveRangeHeader>]> = [
    [undefined, size, { kind: 'none' }],
    ['bytes=0-9', size, { kind: 'range', range: { start: 0, end: 9 } }],
    ['bytes=0-0', size, { kind: 'range', range: { start: 0, end: 0 } }],
    ['bytes=99-99', size, { kind: 'range', range: { start: 99, end: 99 } }],
    ['bytes=10-', size, { kind: 'range', range: { start: 10, end: 99 } }],
    ['bytes=0-', size, { kind: 'range', range: { start: 0, end: 99 } }],
    ['bytes=-10', size, { kind: 'range', range: { start: 90, end: 99 } }],
    ['bytes=-100', size, { kind: 'range', range: { start: 0, end: 99 } }],
    ['bytes=-1000', size, { kind: 'range', range: { start: 0, end: 99 } }],
    ['bytes=50-5000', size, { kind: 'range', range: { start: 50, end: 99 } }],
    ['BYTES=1-2', size, { kind: 'range', range: { start: 1, end: 2 } }],
    [' bytes = 3 - 4 ', size, { kind: 'range', range: { start: 3, end: 4 } }],
    ['bytes=100-', size, { kind: 'unsatisfiable' }],
    ['bytes=100-200', size, { kind: 'unsatisfiable' }],
    ['bytes=1000-1001', size, { kind: 'unsatisfiable' }],
    ['bytes=-0', size, { kind: 'unsatisfiable' }],
    ['bytes=0-', 0, { kind: 'unsatisfiable' }],
    ['bytes=-5', 0, { kind: 'unsatisfiable' }],
    ['bytes=0-0', 0, { kind: 'unsatisfiable' }],
    ['bytes=5-3', size, { kind: 'none' }],
    ['bytes=0-1,5-6', size, { kind: 'none' }],
    ['items=0-5', size, { kind: 'none' }],
    ['bytes=', size, { kind: 'none' }],
    ['bytes=-', size, { kind: 'none' }],
    ['bytes=a-b', size, { kind: 'none' }],
    ['bytes=1.5-3', size, { kind: 'none' }],
    ['0-5', size, { kind: 'none' }],
    ['', size, { kind: 'none' }],
    ['garbage', size, { kind: 'none' }],
  ];
  for (const [header, s, expected] of table) {
    it(`${JSON.stringify(header)} on ${s} bytes → ${expected.kind}${expected.kind === 'range' ? ` ${expected.range.start}-${expected.range.end}` : ''}`, () => {
      assert.deepEqual(resolveRangeHeader(header, s), expected);
    });
  }

  const rangeHeader = fc.oneof(
    fc.tuple(fc.nat({ max: 3000 }), fc.nat({ max: 3000 })).map(([a, b]) => `bytes=${a}-${b}`),
    fc.nat({ max: 3000 }).map((a) => `bytes=${a}-`),
    fc.nat({ max: 3000 }).map((n) => `bytes=-${n}`),
  );

  it('property: a satisfiable range always lies within [0, size-1] and is non-empty', () => {
    fc.assert(
      fc.property(rangeHeader, fc.nat({ max: 2000 }), (header, s) => {
        const r = resolveRangeHeader(header, s);
        if (r.kind !== 'range') return;
        assert.ok(Number.isInteger(r.range.start) && Number.isInteger(r.range.end));
        assert.ok(r.range.start >= 0 && r.range.start <= r.range.end && r.range.end <= s - 1, `${header} on ${s}: ${JSON.stringify(r)}`);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: bytes=a-b resolves per RFC 9110 (exact, clamped, unsatisfiable or ignored)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 500 }), fc.nat({ max: 500 }), fc.nat({ max: 400 }), (a, b, s) => {
        const r = resolveRangeHeader(`bytes=${a}-${b}`, s);
        if (b < a) assert.deepEqual(r, { kind: 'none' });
        else if (a >= s) assert.deepEqual(r, { kind: 'unsatisfiable' });
        else assert.deepEqual(r, { kind: 'range', range: { start: a, end: Math.min(b, s - 1) } });
      }),
      { numRuns: 2000 },
    );
  });

  it('property: bytes=-n is the last min(n, size) bytes, unsatisfiable when n = 0 or size = 0', () => {
    fc.assert(
      fc.property(fc.nat({ max: 500 }), fc.nat({ max: 400 }), (n, s) => {
        const r = resolveRangeHeader(`bytes=-${n}`, s);
        if (n === 0 || s === 0) assert.deepEqual(r, { kind: 'unsatisfiable' });
        else assert.deepEqual(r, { kind: 'range', range: { start: s - Math.min(n, s), end: s - 1 } });
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws, whatever the header', () => {
    fc.assert(fc.property(fc.string({ maxLength: 60 }), fc.nat({ max: 1e9 }), (h, s) => {
      const r = resolveRangeHeader(h, s);
      assert.ok(['none', 'range', 'unsatisfiable'].includes(r.kind));
    }));
  });
});

// ---------------------------------------------------------------- Content-Range (upload PATCH)
describe('Content-Range parsing', () => {
  const good: Array<[string, number, number]> = [
    ['0-99', 0, 99],
    ['0-0', 0, 0],
    ['100-199', 100, 199],
    ['bytes 0-99/100', 0, 99],
    ['bytes 0-99/*', 0, 99],
    ['bytes=5-9', 5, 9],
    ['  10-20  ', 10, 20],
    ['123456789012345-123456789012345', 123456789012345, 123456789012345],
  ];
  for (const [header, start, end] of good) {
    it(`parses ${JSON.stringify(header)} as ${start}-${end}`, () => assert.deepEqual(parseContentRange(header), { start, end }));
  }
  for (const header of ['', 'abc', '5', '-5', '5-', '9-5', '1.5-2', '0-99/abc', 'bytes */100', '0 - 9', '0-1-2', '1234567890123456-1234567890123457', 'bytes=0-1,3-4']) {
    it(`rejects ${JSON.stringify(header)} with RANGE_INVALID`, () => throwsCode(() => parseContentRange(header), 'RANGE_INVALID'));
  }
  it('property: `a-b` with a ≤ b parses to {a, b}; b < a is RANGE_INVALID', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat({ max: 1000 }), fc.nat({ max: 999_999_999_999_999 })), fc.oneof(fc.nat({ max: 1000 }), fc.nat({ max: 999_999_999_999_999 })), (a, b) => {
        const header = `${a}-${b}`;
        if (a <= b) assert.deepEqual(parseContentRange(header), { start: a, end: b });
        else throwsCode(() => parseContentRange(header), 'RANGE_INVALID');
      }),
      { numRuns: 1000 },
    );
  });
  it('property: any header either parses to a non-empty safe-integer range or throws RANGE_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (h) => {
        try {
          const r = parseContentRange(h);
          assert.ok(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end) && r.start <= r.end);
        } catch (error) {
          assert.ok(RegistryError.is(error) && error.code === 'RANGE_INVALID');
        }
      }),
    );
  });
});
