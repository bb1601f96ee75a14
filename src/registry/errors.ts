/**
 * Errors of the registry domain. Each carries one of the OCI Distribution error codes (plus a few that the
 * reference registry defines); the HTTP layer maps a code to a status in one table (http/error-mapping.ts).
 * Nothing here knows about HTTP.
 */
export const ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'RANGE_INVALID',
  'PAGINATION_NUMBER_INVALID',
  'MANIFEST_TOO_LARGE',
  /** A pull-through cache's upstream failed, timed out or is unreachable, and nothing is cached. */
  'UNAVAILABLE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const BRAND = Symbol.for('pier.RegistryError');

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  /** Extra response facts the HTTP layer may need (e.g. the current upload size on a 416). */
  readonly hints: Readonly<Record<string, string | number>>;

  constructor(code: ErrorCode, message: string, detail?: unknown, hints: Record<string, string | number> = {}) {
    super(message);
    this.name = 'RegistryError';
    this.code = code;
    this.detail = detail;
    this.hints = hints;
    (this as unknown as Record<symbol, boolean>)[BRAND] = true;
  }

  /** Works across duplicate copies of this module (e.g. a plug-in bundling its own). */
  static is(value: unknown): value is RegistryError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

export const fail = (code: ErrorCode, message: string, detail?: unknown, hints?: Record<string, string | number>): never => {
  throw new RegistryError(code, message, detail, hints);
};
