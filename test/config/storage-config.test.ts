/** storage.s3 and storage.azure: the reference's keys, REGISTRY_* overrides, the settings they become, and refusals. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatProblem, loadConfig } from '../../src/config/load.ts';
import { settingsFromConfig } from '../../src/config/serve-settings.ts';

const s3Config = [
  'version: 0.1',
  'storage:',
  '  s3:',
  '    region: eu-west-1',
  '    bucket: my-registry',
  '    regionendpoint: minio.internal:9000',
  '    secure: false',
  '    accesskey: AKIA',
  '    secretkey: from-file',
  '    rootdirectory: /registry/',
  '    chunksize: 20MiB',
  '    storageclass: reduced_redundancy',
  '  redirect:',
  '    disable: true',
  '',
].join('\n');

describe('object storage configuration', () => {
  it('reads the reference s3 keys, lets REGISTRY_* override them and keeps the index in ./data', () => {
    const result = loadConfig({ text: s3Config, file: 'config.yml', env: { REGISTRY_STORAGE_S3_SECRETKEY: 'from-env' } });
    assert.deepEqual(result.problems, []);
    const settings = settingsFromConfig(result.config!);
    assert.equal(settings.dataDir, './data');
    assert.equal(settings.redirect, false);
    assert.equal(settings.storage.driver, 's3');
    if (settings.storage.driver !== 's3') return;
    const s3 = settings.storage.s3;
    assert.equal(s3.secretKey, 'from-env');
    assert.equal(s3.chunkSize, 20 * 1024 * 1024);
    assert.equal(s3.rootDirectory, '/registry/');
    assert.equal(s3.secure, false);
    assert.equal(s3.multipartCopyThresholdSize, 32 * 1024 * 1024);
    assert.equal(s3.storageClass, 'reduced_redundancy');
  });

  it('redirects blob downloads by default, as the reference does', () => {
    const result = loadConfig({ text: 'version: 0.1\nstorage:\n  s3:\n    region: us-east-1\n    bucket: b\n', file: 'c.yml', env: {} });
    assert.deepEqual(result.problems, []);
    assert.equal(settingsFromConfig(result.config!).redirect, true);
  });

  it('refuses what S3 cannot do, naming the key', () => {
    const text = 'version: 0.1\nstorage:\n  s3:\n    region: us-east-1\n    bucket: b\n    chunksize: 1048576\n    accesskey: only-half\n';
    const problems = loadConfig({ text, file: 'c.yml', env: {} }).problems.map(formatProblem).sort();
    assert.deepEqual(problems, [
      'c.yml:3: storage.s3.secretkey: give both accesskey and secretkey, or neither (the default AWS credential chain)',
      'c.yml:6: storage.s3.chunksize: must be between 5242880 (5 MiB, S3\'s smallest part) and 5368709120 (5 GiB)',
    ]);
    const missing = loadConfig({ text: 'version: 0.1\nstorage:\n  s3:\n    bucket: b\n', file: 'c.yml', env: {} }).problems.map(formatProblem);
    assert.deepEqual(missing, ['c.yml:3: storage.s3.region: required: a string']);
  });

  it('reads azure keys and Pier\'s connection string; refuses Azure AD credentials for now', () => {
    const ok = loadConfig({ text: 'version: 0.1\nstorage:\n  azure:\n    container: registry\n    connectionstring: "AccountName=a;AccountKey=k"\n', file: 'c.yml', env: {} });
    assert.deepEqual(ok.problems, []);
    const settings = settingsFromConfig(ok.config!);
    assert.equal(settings.storage.driver, 'azure');
    assert.equal(settings.dataDir, './data');
    const bad = loadConfig({
      text: 'version: 0.1\nstorage:\n  azure:\n    container: registry\n    credentials:\n      type: client_secret\n',
      file: 'c.yml',
      env: {},
    }).problems.map(formatProblem).sort();
    assert.deepEqual(bad, [
      'c.yml:3: storage.azure: needs accountname and accountkey (or Pier\'s connectionstring)',
      'c.yml:6: storage.azure.credentials.type: "client_secret" is not supported yet: use shared_key (accountname and accountkey) or connectionstring',
    ]);
  });
});
