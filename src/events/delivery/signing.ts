/**
 * Delivery signatures: `Pier-Signature: sha256=<hex>` is HMAC-SHA256 with the endpoint's secret over
 * `<Pier-Timestamp>.<body>` (the exact bytes sent), so a receiver can check both that the body is
 * authentic and that it is fresh (reject timestamps more than a few minutes old). docs/events.md shows the
 * check in shell and Node.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'Pier-Signature';
export const TIMESTAMP_HEADER = 'Pier-Timestamp';
export const DELIVERY_HEADER = 'Pier-Delivery';
export const EVENT_TYPE_HEADER = 'Pier-Event';

export function signature(secret: string, timestamp: number, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export function verifySignature(secret: string, timestamp: number, body: Buffer, header: string): boolean {
  const expected = Buffer.from(signature(secret, timestamp, body));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The token in a delivery's callback URL: proves the caller was sent that delivery. */
export function callbackToken(secret: string, deliveryId: string): string {
  return createHmac('sha256', secret).update(`callback:${deliveryId}`).digest('hex').slice(0, 40);
}

export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
