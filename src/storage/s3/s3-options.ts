/**
 * The S3 driver's settings, from the reference registry's `storage.s3` keys, and the SDK client they make.
 * The SDK (`@aws-sdk/client-s3`) is loaded here by dynamic import, so a registry on filesystem storage never
 * loads it.
 *
 * Defaults and limits follow the reference's s3-aws driver: chunksize 10 MiB (5 MiB to 5 GiB), multipart
 * copy in 32 MiB parts above 32 MiB with up to 100 parts at once, STANDARD storage class, `secure` true,
 * path-style addressing when `regionendpoint` is set.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { S3Client } from '@aws-sdk/client-s3';

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;

export interface S3Settings {
  bucket: string;
  region: string;
  /** Key prefix: the reference's `rootdirectory`, leading and trailing slashes dropped. */
  rootDirectory: string;
  /** Custom endpoint (MinIO, Ceph RGW, Garage, R2, GCS, Swift); a bare host gets http(s) from `secure`. */
  regionEndpoint?: string;
  forcePathStyle?: boolean;
  accessKey?: string;
  secretKey?: string;
  sessionToken?: string;
  encrypt: boolean;
  keyId?: string;
  secure: boolean;
  skipVerify: boolean;
  chunkSize: number;
  /** A storage class name, or NONE to send none (for stores that refuse the header). */
  storageClass: string;
  objectAcl?: string;
  multipartCopyChunkSize: number;
  multipartCopyMaxConcurrency: number;
  multipartCopyThresholdSize: number;
  useDualstack?: boolean;
  accelerate?: boolean;
  useFips?: boolean;
  userAgent?: string;
  /** A public endpoint for presigned redirect URLs, when clients reach the store by another address. */
  redirectEndpoint?: string;
  /** Keys per listing page (S3's maximum, 1000, unless a test needs several pages). */
  listPageSize?: number;
}

export const S3_DEFAULTS = {
  encrypt: false,
  secure: true,
  skipVerify: false,
  chunkSize: 2 * MIN_PART_SIZE,
  storageClass: 'STANDARD',
  multipartCopyChunkSize: 32 * 1024 * 1024,
  multipartCopyMaxConcurrency: 100,
  multipartCopyThresholdSize: 32 * 1024 * 1024,
} as const;

/** The key prefix for a `rootdirectory`, as the reference computes it (`/a/b/` → `a/b`). */
export function keyPrefix(rootDirectory: string | undefined): string {
  return (rootDirectory ?? '').replace(/\/+$/, '').replace(/^\/+/, '');
}

/** Throws a readable message for settings S3 cannot work with. */
export function checkS3Settings(s: S3Settings): void {
  if (!s.bucket) throw new Error('storage.s3.bucket is required');
  if (!s.region) throw new Error('storage.s3.region is required');
  if (s.chunkSize < MIN_PART_SIZE || s.chunkSize > MAX_PART_SIZE) throw new Error(`storage.s3.chunksize must be between ${MIN_PART_SIZE} and ${MAX_PART_SIZE}`);
  if (s.multipartCopyChunkSize < MIN_PART_SIZE || s.multipartCopyChunkSize > MAX_PART_SIZE) {
    throw new Error(`storage.s3.multipartcopychunksize must be between ${MIN_PART_SIZE} and ${MAX_PART_SIZE}`);
  }
  if (s.multipartCopyMaxConcurrency < 1) throw new Error('storage.s3.multipartcopymaxconcurrency must be at least 1');
  if ((s.accessKey === undefined) !== (s.secretKey === undefined)) throw new Error('storage.s3: give both accesskey and secretkey, or neither (the default credential chain)');
}

function endpointUrl(s: S3Settings): string | undefined {
  if (!s.regionEndpoint) return undefined;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(s.regionEndpoint) ? s.regionEndpoint : `${s.secure ? 'https' : 'http'}://${s.regionEndpoint}`;
}

export async function createS3Client(s: S3Settings, endpointOverride?: string): Promise<S3Client> {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const endpoint = endpointOverride ?? endpointUrl(s);
  // Registry traffic is many small requests in parallel: keep connections open and allow many at once.
  const agentOptions = { keepAlive: true, maxSockets: 128 };
  return new S3Client({
    region: s.region,
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: s.forcePathStyle ?? endpoint !== undefined,
    tls: s.secure,
    useDualstackEndpoint: s.useDualstack ?? false,
    useAccelerateEndpoint: s.accelerate ?? false,
    useFipsEndpoint: s.useFips ?? false,
    ...(s.userAgent ? { customUserAgent: s.userAgent } : {}),
    ...(s.accessKey !== undefined && s.secretKey !== undefined
      ? { credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey, ...(s.sessionToken ? { sessionToken: s.sessionToken } : {}) } }
      : {}), // otherwise the SDK's default chain: environment, shared files, web identity, instance metadata
    // Only the checksums S3 requires: S3-compatible stores (Swift, older MinIO, R2, GCS) refuse the newer
    // default trailing checksums and aws-chunked bodies.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
    requestHandler: {
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent({ ...agentOptions, rejectUnauthorized: !s.skipVerify }),
      connectionTimeout: 10_000,
      requestTimeout: 300_000,
    },
  });
}
