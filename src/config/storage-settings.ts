/**
 * Which storage driver to open, and with what settings, from the `storage` section. Plain values only:
 * main/open-storage.ts turns them into a driver.
 */
import type { PierConfig } from './schema.ts';
import type { S3Settings } from '../storage/s3/s3-options.ts';
import type { AzureSettings } from '../storage/azure/azure-driver.ts';

export type StorageSelection =
  | { driver: 'filesystem'; rootDirectory: string }
  | { driver: 's3'; s3: S3Settings }
  | { driver: 'azure'; azure: AzureSettings };

/**
 * Where Pier keeps local files (the SQLite index) when storage is not the filesystem: `./data`, so the
 * index is `./data/pier/index.db`.
 */
export const LOCAL_DATA_DIR = './data';

const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '')) as T;

export function storageFromConfig(config: PierConfig): StorageSelection {
  const storage = config.storage;
  if (storage?.s3) {
    const s = storage.s3;
    return {
      driver: 's3',
      s3: {
        bucket: s.bucket,
        region: s.region,
        rootDirectory: s.rootdirectory,
        encrypt: s.encrypt,
        secure: s.secure,
        skipVerify: s.skipverify,
        chunkSize: s.chunksize,
        storageClass: s.storageclass,
        multipartCopyChunkSize: s.multipartcopychunksize,
        multipartCopyMaxConcurrency: s.multipartcopymaxconcurrency,
        multipartCopyThresholdSize: s.multipartcopythresholdsize,
        useDualstack: s.usedualstack,
        accelerate: s.accelerate,
        useFips: s.usefipsendpoint,
        ...defined({
          regionEndpoint: s.regionendpoint,
          forcePathStyle: s.forcepathstyle,
          accessKey: s.accesskey,
          secretKey: s.secretkey,
          sessionToken: s.sessiontoken,
          keyId: s.keyid,
          objectAcl: s.objectacl,
          userAgent: s.useragent,
          redirectEndpoint: s.redirectendpoint,
        }),
      },
    };
  }
  if (storage?.azure) {
    const a = storage.azure;
    return {
      driver: 'azure',
      azure: {
        container: a.container,
        rootDirectory: a.rootdirectory,
        realm: a.realm,
        ...defined({ accountName: a.accountname, accountKey: a.accountkey, serviceUrl: a.serviceurl, connectionString: a.connectionstring }),
      },
    };
  }
  return { driver: 'filesystem', rootDirectory: storage?.filesystem?.rootdirectory ?? LOCAL_DATA_DIR };
}

/** The local directory: the storage root on filesystem storage, else where the index file lives. */
export function localDataDir(selection: StorageSelection): string {
  return selection.driver === 'filesystem' ? selection.rootDirectory : LOCAL_DATA_DIR;
}
