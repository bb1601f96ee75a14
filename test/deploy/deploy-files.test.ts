/**
 * The deployment files under deploy/, checked statically (no container engine, Swarm or Kubernetes runs in
 * CI): the Dockerfile's instructions, compose and Swarm files parsed and their key fields checked, Pier's own
 * config files loaded by Pier's config loader, and the Helm chart rendered in both modes with this test's
 * values, every object validated against the Kubernetes API schemas (kubernetes-models).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { loadConfig as loadPierConfig } from '../../src/config/load.ts';
import type { PierConfig } from '../../src/config/schema.ts';
import { ChartRenderer, chartValues, type ChartContext } from '../support/helm-template.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const CHART = join(DEPLOY, 'helm', 'pier');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const yamlFile = (file: string): Doc => parseYaml(readFileSync(join(DEPLOY, file), 'utf8')) as Doc;

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerfile(): Array<{ op: string; args: string }> {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

describe('deploy/Dockerfile', () => {
  const lines = dockerfile();
  const stages = lines.map((l, i) => ({ ...l, i })).filter((l) => l.op === 'FROM');
  const final = lines.slice(stages.at(-1)!.i);
  const arg = (name: string) => lines.find((l) => l.op === 'ARG' && l.args.startsWith(`${name}=`))?.args.slice(name.length + 1);

  it('is a multi-stage build on a pinned base image', () => {
    assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
    assert.match(stages[0]!.args, / AS build$/i);
    for (const stage of stages) {
      const image = stage.args.split(/\s+/)[0]!.replace('${NODE_IMAGE}', arg('NODE_IMAGE') ?? '');
      assert.match(image, /^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$|@sha256:[0-9a-f]{64}$/, `pinned by version or digest: ${image}`);
    }
    assert.ok(final.some((l) => l.op === 'COPY' && l.args.startsWith('--from=build')), 'the runtime stage copies the build output');
  });

  it('runs as a non-root user with the registry volume, port, health check and entrypoint', () => {
    const user = final.filter((l) => l.op === 'USER').at(-1)?.args;
    assert.ok(user && !/^(0|root)(:|$)/.test(user), `non-root USER, not ${user}`);
    assert.ok(final.some((l) => l.op === 'VOLUME' && l.args.includes('/var/lib/registry')));
    assert.ok(final.some((l) => l.op === 'EXPOSE' && l.args.split(/\s+/).includes('5000')));
    const health = final.find((l) => l.op === 'HEALTHCHECK')?.args ?? '';
    assert.match(health, /CMD .*http:\/\/127\.0\.0\.1:5000\/healthz/);
    assert.match(final.find((l) => l.op === 'ENTRYPOINT')?.args ?? '', /dist\/cli\/main\.js/);
    assert.match(final.find((l) => l.op === 'CMD')?.args ?? '', /"serve", "\/etc\/pier\/config\.yml"/);
  });

  it('copies only files that exist, and its build context file lets them through', () => {
    for (const l of lines.filter((l) => l.op === 'COPY' && !l.args.startsWith('--from'))) {
      const sources = l.args.split(/\s+/).slice(0, -1);
      for (const s of sources) assert.ok(existsSync(join(ROOT, s)), `COPY source ${s}`);
    }
    const ignore = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8');
    for (const needed of ['!package.json', '!package-lock.json', '!src/**', '!deploy/config.yml']) assert.ok(ignore.includes(needed), needed);
  });

  it('its default config.yml loads, and REGISTRY_* variables override it', () => {
    const config = loadConfig(join(DEPLOY, 'config.yml'), { REGISTRY_HTTP_ADDR: ':6000', REGISTRY_STORAGE_DELETE_ENABLED: 'true' });
    assert.equal(config.storage?.filesystem?.rootdirectory, '/var/lib/registry');
    assert.equal(config.http.addr, ':6000');
    assert.equal(config.storage?.delete.enabled, true);
    assert.equal(config.log.formatter, 'json');
  });
});

describe('deploy/compose.yaml', () => {
  const compose = yamlFile('compose.yaml');

  it('runs Pier alone by default, with its volume and port', () => {
    const pier = compose.services.pier;
    assert.equal(pier.profiles, undefined, 'in the default profile');
    assert.ok(pier.ports.includes('5000:5000'));
    assert.ok(pier.volumes.some((v: string) => v.endsWith(':/var/lib/registry')));
    assert.equal(pier.build.dockerfile, 'deploy/Dockerfile');
    const defaults = Object.entries(compose.services).filter(([, s]) => (s as Doc).profiles === undefined).map(([n]) => n);
    assert.deepEqual(defaults, ['pier']);
  });

  it('has a "scale" profile with PostgreSQL, an S3-compatible store and Pier using both, credentials as secrets', () => {
    for (const name of ['postgres', 'minio', 'minio-bucket', 'pier-scaled']) assert.deepEqual(compose.services[name].profiles, ['scale'], name);
    assert.match(compose.services.postgres.image, /^postgres:15\.\d+/);
    assert.equal(compose.services.postgres.environment.POSTGRES_PASSWORD_FILE, '/run/secrets/postgres-password');
    const scaled = compose.services['pier-scaled'];
    assert.deepEqual(scaled.configs, [{ source: 'pier-scale', target: '/etc/pier/config.yml' }]);
    assert.equal(compose.configs['pier-scale'].file, './config.scale.yml');
    for (const s of [...scaled.secrets, ...compose.services.minio.secrets]) assert.ok(compose.secrets[s], `secret ${s} is declared`);
    assert.ok(!JSON.stringify(compose).match(/PASSWORD:\s|SECRETKEY|secretkey/i), 'no credential is written in the file');
  });

  it('config.scale.yml: PostgreSQL index with the password from the secret file, S3 storage', () => {
    const config = yamlFile('config.scale.yml');
    assert.equal(config.index.backend, 'postgres');
    assert.equal(config.index.postgres.passwordfile, '/run/secrets/postgres-password');
    assert.equal(config.index.postgres.password, undefined);
    assert.equal(config.storage.s3.bucket, 'pier');
    assert.equal(config.storage.s3.secretkey, undefined, 'S3 keys come from the credentials file');
    assertPierAccepts(join(DEPLOY, 'config.scale.yml'));
  });
});

describe('deploy/stack.yaml (Docker Swarm)', () => {
  const stack = yamlFile('stack.yaml');
  const registry = stack.services.registry;

  it('a replicated service behind the routing mesh, with rolling updates', () => {
    assert.equal(registry.deploy.mode, 'replicated');
    assert.ok(registry.deploy.replicas >= 2);
    assert.deepEqual(registry.ports, [{ target: 5000, published: 5000, protocol: 'tcp', mode: 'ingress' }]);
    const update = registry.deploy.update_config;
    assert.equal(update.parallelism, 1);
    assert.equal(update.order, 'start-first');
    assert.equal(update.failure_action, 'rollback');
    assert.match(registry.healthcheck.test.join(' '), /\/readyz/);
  });

  it('credentials are Docker secrets, mounted where the config expects them', () => {
    assert.deepEqual(registry.secrets.map((s: Doc) => s.target).sort(), ['postgres-password', 's3-credentials']);
    for (const s of registry.secrets) assert.equal(stack.secrets[s.source].external, true);
    assert.equal(registry.environment.AWS_SHARED_CREDENTIALS_FILE, '/run/secrets/s3-credentials');
    assert.equal(yamlFile('config.scale.yml').index.postgres.passwordfile, '/run/secrets/postgres-password');
    assert.deepEqual(registry.configs, [{ source: 'pier_config', target: '/etc/pier/config.yml' }]);
  });
});

describe('deploy/helm/pier', () => {
  const renderer = ChartRenderer.load(CHART);
  const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Doc;
  const context = (values: Record<string, unknown>): ChartContext => ({
    Values: chartValues(CHART, values),
    Release: { Name: 'reg', Namespace: 'registry' },
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
  });
  /** Every rendered object, validated against the Kubernetes schemas, keyed by kind. */
  const render = (values: Record<string, unknown>): Map<string, Doc> => {
    const objects = new Map<string, Doc>();
    for (const [file, text] of renderer.render(context(values))) {
      for (const doc of parseAllDocuments(text)) {
        assert.deepEqual(doc.errors, [], `${file} renders to valid YAML:\n${text}`);
        const object = doc.toJS() as Doc | null;
        if (!object) continue;
        validateKubernetesObject(object, file);
        assert.ok(!objects.has(object.kind), `one ${object.kind}`);
        objects.set(object.kind, object);
      }
    }
    return objects;
  };
  const container = (objects: Map<string, Doc>) => objects.get('Deployment')!.spec.template.spec.containers[0];

  it('is a v2 chart', () => {
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'pier');
  });

  it('single node: one replica on a PersistentVolumeClaim, probes on /healthz and /readyz', () => {
    const objects = render({});
    assert.deepEqual([...objects.keys()].sort(), ['ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Service']);
    const deployment = objects.get('Deployment')!;
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.strategy.type, 'Recreate');
    const c = container(objects);
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.startupProbe.httpGet.path, '/healthz');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(deployment.spec.template.spec.securityContext.runAsNonRoot, true);
    const data = deployment.spec.template.spec.volumes.find((v: Doc) => v.name === 'data');
    assert.equal(data.persistentVolumeClaim.claimName, objects.get('PersistentVolumeClaim')!.metadata.name);
    assert.ok(c.volumeMounts.some((m: Doc) => m.name === 'data' && m.mountPath === '/var/lib/registry'));
    assert.equal(objects.get('PersistentVolumeClaim')!.spec.resources.requests.storage, '20Gi');
    assert.deepEqual(objects.get('Service')!.spec.selector, deployment.spec.selector.matchLabels);
    const config = loadConfig(writeTemp(objects.get('ConfigMap')!.data['config.yml']), {});
    assert.equal(config.storage?.filesystem?.rootdirectory, '/var/lib/registry');
    assert.equal(config.index.backend, 'sqlite');
  });

  it('scale mode: replicas, rolling updates, PodDisruptionBudget, HPA, credentials from a Secret', () => {
    const values = {
      scale: { enabled: true, s3: { regionendpoint: 'https://minio.example:9000', forcepathstyle: true }, postgres: { host: 'db.example' } },
      secrets: { postgresPassword: 'pg-secret', s3AccessKey: 'AKIAEXAMPLE', s3SecretKey: 's3-secret' },
      autoscaling: { enabled: true },
    };
    const objects = render(values);
    assert.deepEqual([...objects.keys()].sort(), ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Secret', 'Service']);
    const deployment = objects.get('Deployment')!;
    assert.equal(deployment.spec.replicas, undefined, 'the HPA owns the replica count');
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
    assert.equal(objects.get('HorizontalPodAutoscaler')!.spec.scaleTargetRef.name, deployment.metadata.name);
    assert.deepEqual(objects.get('PodDisruptionBudget')!.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
    const secret = objects.get('Secret')!;
    assert.equal(secret.stringData['postgres-password'], 'pg-secret');
    assert.match(secret.stringData['s3-credentials'], /aws_secret_access_key = s3-secret/);
    const credentials = deployment.spec.template.spec.volumes.find((v: Doc) => v.name === 'credentials');
    assert.equal(credentials.secret.secretName, secret.metadata.name);
    const c = container(objects);
    assert.deepEqual(c.env, [{ name: 'AWS_SHARED_CREDENTIALS_FILE', value: '/run/secrets/pier/s3-credentials' }]);
    const configText = objects.get('ConfigMap')!.data['config.yml'] as string;
    assert.ok(!configText.includes('pg-secret') && !configText.includes('s3-secret'), 'no credential in the ConfigMap');
    const config = parseYaml(configText) as Doc;
    assert.equal(config.index.postgres.host, 'db.example');
    assert.equal(config.index.postgres.passwordfile, '/run/secrets/pier/postgres-password');
    assert.equal(config.storage.s3.regionendpoint, 'https://minio.example:9000');
    assertPierAccepts(writeTemp(configText));
    // a fixed replica count without the HPA, and an existing Secret instead of values
    const fixed = render({ ...values, autoscaling: { enabled: false }, secrets: { existingSecret: 'pier-credentials' } });
    assert.equal(fixed.get('Deployment')!.spec.replicas, 3);
    assert.equal(fixed.has('Secret'), false);
    assert.equal(fixed.get('Deployment')!.spec.template.spec.volumes.find((v: Doc) => v.name === 'credentials').secret.secretName, 'pier-credentials');
  });

  it('scale mode without credentials fails to render, naming the value', () => {
    assert.throws(() => renderer.render(context({ scale: { enabled: true } })), /secrets\.postgresPassword/);
  });

  it('templates outside the checked subset are refused', () => {
    assert.throws(() => ChartRenderer.load(join(ROOT, 'test', 'deploy', 'fixtures', 'unsupported-chart')), /outside the template subset/);
  });
});

const scratch = mkdtempSync(join(tmpdir(), 'pier-deploy-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let temps = 0;
function writeTemp(text: string): string {
  const file = join(scratch, `config-${++temps}.yml`);
  writeFileSync(file, text);
  return file;
}

/** Pier's own loader: the file, then REGISTRY_* variables; no problem allowed. */
function loadConfig(file: string, env: NodeJS.ProcessEnv): PierConfig {
  const result = loadPierConfig({ file, env });
  assert.deepEqual(result.problems, [], file);
  return result.config!;
}

/** Pier's loader accepts the file, apart from storage drivers this build may not have yet (S3). */
function assertPierAccepts(file: string): void {
  const problems = loadPierConfig({ file, env: {} }).problems.filter((p) => !p.key.startsWith('storage'));
  assert.deepEqual(problems, [], `${file}: ${JSON.stringify(problems)}`);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
};

/** Validates a rendered object against the Kubernetes API schema of its apiVersion and kind. */
function validateKubernetesObject(object: Doc, file: string): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  assert.ok(Model, `${file}: unexpected ${object.apiVersion} ${object.kind}`);
  assert.doesNotThrow(() => new Model(object).validate(), `${file}: ${object.kind} matches the Kubernetes schema`);
}
