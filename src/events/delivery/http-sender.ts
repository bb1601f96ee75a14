/**
 * One outbound POST of a delivery, with node:http(s): a time limit on the whole exchange, a cap on how much
 * of the response is read, redirects (307/308 only, which keep the method and body) followed up to 3 times,
 * and — for API-created webhooks — the outbound policy checked on every address, including after DNS
 * resolution and on each redirect.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { OutboundDenied, type OutboundPolicy } from './outbound-policy.ts';

export interface SendOptions {
  headers: Record<string, string | string[]>;
  body: Buffer;
  timeoutMs: number;
  /** Bytes of the response body kept (for the delivery log); the rest is discarded. Default 64 KiB. */
  maxResponseBytes?: number;
  /** Present for API-created webhooks. */
  policy?: OutboundPolicy;
}

export interface SendResult {
  status: number;
  body: string;
}

const MAX_REDIRECTS = 3;

export async function sendPost(target: string, options: SendOptions): Promise<SendResult> {
  let url = new URL(target);
  const deadline = Date.now() + options.timeoutMs;
  for (let hop = 0; ; hop++) {
    options.policy?.checkUrl(url);
    const result = await postOnce(url, options, Math.max(1, deadline - Date.now()));
    if ((result.status === 307 || result.status === 308) && result.location !== undefined) {
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      url = new URL(result.location, url);
      continue;
    }
    return { status: result.status, body: result.body };
  }
}

function postOnce(url: URL, options: SendOptions, timeoutMs: number): Promise<SendResult & { location?: string }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'POST',
      headers: { ...options.headers, 'Content-Length': String(options.body.length) },
      ...(options.policy ? { lookup: options.policy.lookup } : {}),
      agent: false,
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof OutboundDenied ? err : new Error(describeError(err)));
    });
    req.once('response', (res) => {
      const cap = options.maxResponseBytes ?? 64 * 1024;
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (chunk: Buffer) => {
        if (kept < cap) chunks.push(chunk.subarray(0, cap - kept));
        kept += chunk.length;
        if (kept > cap * 16) res.destroy(); // stop reading an endless answer; the status is what counts
      });
      const done = (): void => {
        clearTimeout(timer);
        const location = res.headers.location;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(location ? { location } : {}) });
      };
      res.once('end', done);
      res.once('close', done);
      res.once('error', done);
    });
    req.end(options.body);
  });
}

function describeError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ? `${code}: ${err.message}` : err.message;
}
