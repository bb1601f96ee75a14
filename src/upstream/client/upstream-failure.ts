/** Why an upstream request failed, in terms the cache decides on (fail over, or tell the client). */
export type FailureKind = 'unreachable' | 'timeout' | 'rate-limited' | 'status' | 'invalid';

export class UpstreamFailure extends Error {
  constructor(
    readonly upstream: string,
    readonly kind: FailureKind,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'UpstreamFailure';
  }

  static is(value: unknown): value is UpstreamFailure {
    return value instanceof UpstreamFailure;
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT', 'ABORT_ERR']);

/** Turns a transport error (undici, sockets) into an UpstreamFailure naming the upstream. */
export function classifyTransportError(upstream: string, error: unknown): UpstreamFailure {
  if (UpstreamFailure.is(error)) return error;
  const code = (error as { code?: string } | undefined)?.code ?? '';
  const reason = code || (error as Error | undefined)?.message || 'unknown error';
  if (TIMEOUT_CODES.has(code) || (error as Error | undefined)?.name === 'TimeoutError') {
    const what = code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connecting' : code === 'UND_ERR_BODY_TIMEOUT' ? 'the response body stalled' : 'waiting for the response';
    return new UpstreamFailure(upstream, 'timeout', `upstream ${upstream} timed out (${what})`);
  }
  return new UpstreamFailure(upstream, 'unreachable', `upstream ${upstream} is unreachable (${reason})`);
}
