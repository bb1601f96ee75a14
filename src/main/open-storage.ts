/**
 * Opens the storage driver a configuration selects. The object-store drivers are imported only when
 * selected, so their SDKs are never loaded for filesystem storage.
 */
import { FilesystemDriver } from '../storage/filesystem/filesystem-driver.ts';
import type { StorageDriver } from '../storage/contract.ts';
import type { StorageSelection } from '../config/storage-settings.ts';

export interface OpenedDriver {
  driver: StorageDriver;
  /** A short-lived URL to read a stored file directly from the store, when the driver can make one. */
  presign?: (path: string, method: 'GET' | 'HEAD') => Promise<string>;
  close(): void;
}

export async function openStorageDriver(selection: StorageSelection): Promise<OpenedDriver> {
  switch (selection.driver) {
    case 'filesystem':
      return { driver: new FilesystemDriver(selection.rootDirectory), close: () => undefined };
    case 's3': {
      const { S3Driver } = await import('../storage/s3/s3-driver.ts');
      const driver = await S3Driver.open(selection.s3);
      return { driver, presign: (path, method) => driver.presignedUrl(path, method), close: () => driver.close() };
    }
    case 'azure': {
      const { AzureDriver } = await import('../storage/azure/azure-driver.ts');
      const driver = await AzureDriver.open(selection.azure);
      // A SAS URL signed for reading serves GET and HEAD alike; it needs the account key.
      const canSign = selection.azure.accountKey !== undefined || selection.azure.connectionString !== undefined;
      return { driver, ...(canSign ? { presign: (path: string) => driver.presignedUrl(path) } : {}), close: () => driver.close() };
    }
  }
}
