/**
 * Byte ranges: the `Range` request header of a blob GET (RFC 9110, single range only) and the
 * `Content-Range` header of an upload PATCH (`<start>-<end>`, inclusive, as the OCI spec writes it;
 * `bytes <start>-<end>/<total|*>` is accepted too).
 */
import { RegistryError } from '../errors.ts';

export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
}

const MAX_SAFE_DIGITS = 15; // keeps every parsed offset a safe integer

export type RangeRequest =
  | { kind: 'none' } // no header, or one we ignore as RFC 9110 allows (syntax we do not support)
  | { kind: 'range'; range: ByteRange }
  | { kind: 'unsatisfiable' };

/** Resolves a `Range` header against a blob of `size` bytes. */
export function resolveRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'none' };
  const match = /^\s*bytes\s*=\s*(\d{0,15})\s*-\s*(\d{0,15})\s*$/i.exec(header);
  if (!match) return { kind: 'none' }; // multiple ranges or other units: serve the whole blob
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'none' };
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', range: { start: Math.max(0, size - suffix), end: size - 1 } };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'none' }; // invalid per RFC: ignore
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'range', range: { start, end } };
}

/** Parses an upload chunk's `Content-Range`; throws RANGE_INVALID on bad syntax. */
export function parseContentRange(header: string): ByteRange {
  const match = new RegExp(`^\\s*(?:bytes[ =])?\\s*(\\d{1,${MAX_SAFE_DIGITS}})-(\\d{1,${MAX_SAFE_DIGITS}})(?:/(?:\\d{1,${MAX_SAFE_DIGITS}}|\\*))?\\s*$`).exec(header);
  if (!match) throw new RegistryError('RANGE_INVALID', 'invalid Content-Range header', { contentRange: header.slice(0, 100) });
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('RANGE_INVALID', 'Content-Range end is before its start', { contentRange: header });
  return { start, end };
}
