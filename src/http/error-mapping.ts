/**
 * The one place where an error becomes an HTTP status and the spec's JSON error body
 * `{"errors":[{"code","message","detail"}]}`. docs/errors.md lists the same table (a test keeps them in sync).
 */
import type { ServerResponse } from 'node:http';
import { RegistryError, type ErrorCode } from '../registry/errors.ts';

interface WireError {
  status: number;
  /** The code sent to clients, when it differs from the domain code. */
  wire?: string;
}

export const ERROR_STATUS: Record<ErrorCode, WireError> = {
  BLOB_UNKNOWN: { status: 404 },
  BLOB_UPLOAD_INVALID: { status: 400 },
  BLOB_UPLOAD_UNKNOWN: { status: 404 },
  DIGEST_INVALID: { status: 400 },
  MANIFEST_BLOB_UNKNOWN: { status: 400 },
  MANIFEST_INVALID: { status: 400 },
  MANIFEST_UNKNOWN: { status: 404 },
  NAME_INVALID: { status: 400 },
  NAME_UNKNOWN: { status: 404 },
  SIZE_INVALID: { status: 400 },
  TAG_INVALID: { status: 400 },
  UNAUTHORIZED: { status: 401 },
  DENIED: { status: 403 },
  UNSUPPORTED: { status: 405 },
  TOOMANYREQUESTS: { status: 429 },
  RANGE_INVALID: { status: 416 },
  PAGINATION_NUMBER_INVALID: { status: 400 },
  MANIFEST_TOO_LARGE: { status: 413, wire: 'MANIFEST_INVALID' },
  UNAVAILABLE: { status: 503 },
};

export interface ErrorResponse {
  status: number;
  body: { errors: Array<{ code: string; message: string; detail: unknown }> };
}

/** Maps a domain error; anything else is an internal error (500) whose details stay in the log. */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (RegistryError.is(error)) {
    const mapping = ERROR_STATUS[error.code];
    return {
      status: mapping.status,
      body: { errors: [{ code: mapping.wire ?? error.code, message: error.message, detail: error.detail ?? null }] },
    };
  }
  return { status: 500, body: { errors: [{ code: 'UNKNOWN', message: 'internal server error', detail: null }] } };
}

export function sendError(res: ServerResponse, error: unknown, extraHeaders: Record<string, string> = {}): number {
  const { status, body } = toErrorResponse(error);
  if (res.headersSent) {
    res.destroy();
    return status;
  }
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...extraHeaders,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
  });
  res.end(payload);
  return status;
}

/** Builds a RegistryError for a condition detected in the HTTP layer itself. */
export function httpError(code: ErrorCode, message: string, detail?: unknown): RegistryError {
  return new RegistryError(code, message, detail);
}
