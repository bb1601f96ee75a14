/**
 * The web UI end to end in headless Chromium (Debian's, driven by playwright-core; one browser for the file)
 * against a real `pier serve` holding an image pushed with skopeo and 5,000 more repositories: sign in; the
 * repository list interactive in under a second; find the skopeo image by search (name and label); the
 * repository page's tags and copyable pull command; the manifest page's layers and config; the admin pages;
 * deleting a tag as an allowed user and being refused as a pull-only one; signing out and browsing
 * anonymously; dark theme and a phone-sized screen; a repository webhook created on its page, a push delivered
 * to a local receiver and a test event sent from the page; a build of an uploaded context with the built-in
 * builder whose log the page shows as it is written. axe-core checks every page (no serious or critical
 * violation), and every main page is saved to docs/screenshots/ (the README shows them).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { SqliteIndex } from '../../src/index/sqlite/sqlite-index.ts';
import { launchChromium, type TestBrowser } from '../support/chromium.ts';
import { startPierServe, type ServedPier } from '../support/pier-serve.ts';
import { createClientEnv, type ClientEnv } from '../support/client-env.ts';
import { buildSmallImage, type SmallImage } from '../support/images.ts';
import { requireTools } from '../support/tools.ts';
import { CLI, tempDir, writeHtpasswd } from '../auth/fixtures.ts';
import { basicAuth, pushTestImage } from './registry-content.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOTS = process.env.PIER_SCREENSHOTS ?? join(ROOT, 'docs', 'screenshots');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PASSWORDS = { alice: 'alice-pw', dev: 'dev-pw', viewer: 'viewer-pw' } as const;
const BULK = 5000;

let pier: ServedPier;
let browser: TestBrowser;
let page: Page;
let env: ClientEnv;
let image: SmallImage;
/** Webhook deliveries arrive here: 127.0.0.2, the loopback range config.yml allows for API webhooks. */
let receiver: Receiver;
/** A build context (tar.gz) for the built-in builder: RUN-less, with layers big enough to take a moment. */
let contextArchive: string;
/** Script errors and Content-Security-Policy violations seen on any page (there must be none). */
const pageProblems: string[] = [];
/** Measured figures, printed at the end for the closing note. */
const figures: Record<string, number | string> = {};

/** Writes `count` repositories straight into a new index (no bytes in storage: listings need none). */
function seedRepositories(dataDir: string, count: number): Promise<void[]> {
  mkdirSync(join(dataDir, 'pier'), { recursive: true });
  const index = new SqliteIndex(join(dataDir, 'pier', 'index.db'));
  const work: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const n = String(i).padStart(4, '0');
    const digest = `sha256:${n.padStart(64, 'a')}`;
    const layer = `sha256:${n.padStart(64, 'b')}`;
    work.push(
      index.importRepository(`bulk/service-${n}`, {
        blobs: [{ digest: layer, size: 1000 + i }],
        manifests: [{ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400, blobs: [layer], children: [] }],
        tags: [{ tag: 'latest', digest }],
      }),
    );
  }
  return Promise.all(work).finally(() => {
    index.markBuilt();
    void index.close();
  });
}

async function axeCheck(name: string): Promise<void> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: Array<{ target: string[] }> }> }> } }).axe.run(document, {
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], `axe-core on ${name}: ${JSON.stringify(serious, null, 1)}`);
}

/** Long lists are shot as the screen shows them; other pages whole. */
async function shot(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

/** Dockerfile without RUN and three layers of random bytes (so the build takes long enough to be watched). */
function writeBuildContext(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const layers = ['a', 'b', 'c'];
  writeFileSync(join(dir, 'Dockerfile'), `FROM scratch\n${layers.map((l) => `COPY ${l}.bin /data/${l}.bin\n`).join('')}LABEL org.example.built=web-ui\nCMD ["/data/a.bin"]\n`);
  for (const l of layers) writeFileSync(join(dir, `${l}.bin`), randomBytes(6 * 1024 * 1024));
  const archive = `${dir}.tar.gz`;
  execFileSync('tar', ['-czf', archive, '-C', dir, '.']);
  return archive;
}

async function signIn(user: keyof typeof PASSWORDS): Promise<void> {
  await page.goto(`${pier.url}/#/sign-in`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password or API token').fill(PASSWORDS[user]);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText(`Signed in as ${user}`).waitFor();
}

async function signOut(): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

describe('web UI in Chromium', { timeout: 180_000 }, () => {
  before(async () => {
    requireTools('skopeo', 'buildah', 'tar');
    mkdirSync(SCREENSHOTS, { recursive: true });
    if (!existsSync(join(ROOT, 'web', 'dist', 'index.html'))) execFileSync('npm', ['run', 'build:web'], { cwd: ROOT, stdio: 'inherit' });
    const dir = tempDir('web-e2e');
    await writeHtpasswd(join(dir, 'htpasswd'), PASSWORDS);
    receiver = await startReceiver('127.0.0.2');
    contextArchive = writeBuildContext(join(dir, 'context'));
    let started = Date.now();
    await seedRepositories(join(dir, 'data'), BULK);
    figures.seedMs = Date.now() - started;
    pier = await startPierServe(
      dir,
      `version: 0.1
storage:
  filesystem:
    rootdirectory: ${dir}/data
  delete:
    enabled: true
auth:
  htpasswd:
    realm: pier
    path: ${dir}/htpasswd
access:
  policy:
    admins: [alice]
    anonymous: ['public/**']
    rules:
      - repositories: ['team/**']
        users: [dev]
        actions: [pull, push, delete]
      - repositories: ['team/**']
        users: [viewer]
        actions: [pull]
notifications:
  events:
    pulls:
      enabled: false
  webhooks:
    allow: [127.0.0.2/32]
    maxattempts: 2
builds:
  enabled: true
  concurrency: 1
  definitions:
    - id: tiny
      repository: team/tiny
      builder: builtin
lifecycle:
  immutabletags:
    - repository: team/webapp
      tag: stable
  quotas:
    - namespace: team
      limit: 1GiB
`,
    );
    started = Date.now();
    env = await createClientEnv('pier-web-e2e');
    image = await buildSmallImage(env, 'localhost/pier-web/webapp:1');
    const layout = image.layoutDir;
    for (const tag of ['old', '1.0']) {
      await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `dev:${PASSWORDS.dev}`, `oci:${layout}:small`, `docker://${pier.host}/team/webapp:${tag}`]);
    }
    figures.skopeoBuildAndPushMs = Date.now() - started;
    await pushTestImage(pier.url, 'public/hello', basicAuth('alice', PASSWORDS.alice), { tag: 'latest' });
    browser = await launchChromium();
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: pier.url });
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    page.on('pageerror', (error) => pageProblems.push(`script error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) pageProblems.push(`CSP: ${message.text()}`);
    });
  });

  after(async () => {
    await browser?.close();
    await pier?.stop();
    await env?.close();
    await receiver?.close();
    console.log(`web UI figures: ${JSON.stringify(figures)}`);
  });

  it('browses anonymously what the policy allows, and signs in', async () => {
    await page.goto(`${pier.url}/`);
    await page.getByTestId('repository-table').getByRole('link', { name: 'public/hello' }).waitFor();
    assert.equal(await page.getByTestId('repository-table').locator('tbody tr').count(), 1, 'anonymous users see only public/**');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await axeCheck('sign-in');
    await shot('sign-in');
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password or API token').fill('wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('invalid username or password').waitFor();
    await signIn('alice');
    const cookie = (await browser.context.cookies(pier.url)).find((c) => c.name === 'pier_session');
    assert.ok(cookie, 'a session cookie');
    assert.deepEqual([cookie.httpOnly, cookie.sameSite, cookie.secure], [true, 'Strict', true]);
  });

  it(`shows ${BULK} repositories interactive in under a second`, async () => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      await page.goto(`${pier.url}/?load=${i}#/`);
      await page.getByTestId('repository-table').locator('tbody tr').first().waitFor();
      // The page marks itself ready in an effect, which Preact runs just after the rows are painted.
      await page.waitForFunction(() => performance.getEntriesByName('pier:repositories-ready').length > 0, undefined, { timeout: 5_000 });
      const ready = await page.evaluate(() => performance.getEntriesByName('pier:repositories-ready')[0]?.startTime ?? -1);
      assert.ok(ready > 0, 'the list marked itself ready');
      times.push(ready);
    }
    times.sort((a, b) => a - b);
    figures.repositoryListInteractiveMs = Math.round(times[1]!);
    figures.repositoryListInteractiveAllMs = times.map(Math.round).join('/');
    assert.ok(times[1]! < 1000, `time to interactive ${times[1]} ms (median of 3)`);
    await page.getByText(`of ${BULK + 2} repositories`).waitFor();
    assert.equal(await page.getByTestId('repository-table').locator('tbody tr').count(), 50);
    await axeCheck('repositories');
    await shot('repositories', false);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByText(`Showing 51–100 of ${BULK + 2}`).waitFor();
  });

  it('finds the repository pushed with skopeo by name and by label', async () => {
    const search = page.getByRole('searchbox', { name: 'Search' });
    let started = Date.now();
    await search.fill('webapp');
    await page.waitForURL(/q=webapp/);
    await page.getByText('Showing 1–1 of 1 repositories').waitFor();
    figures.searchToResultMs = Date.now() - started;
    started = Date.now();
    const answered = page.waitForResponse((r) => r.url().includes('/pier/api/v1/repositories?q=label'));
    await search.fill('label:org.example.fixture=small');
    await answered;
    await page.getByTestId('repository-table').getByRole('link', { name: 'team/webapp' }).waitFor();
    await page.getByText('Showing 1–1 of 1 repositories').waitFor();
    figures.labelSearchMs = Date.now() - started;
    await page.getByTestId('repository-table').getByRole('link', { name: 'team/webapp' }).click();
    await page.getByRole('heading', { name: 'team/webapp' }).waitFor();
  });

  it('shows the repository’s tags and copies the pull command with the registry’s own host', async () => {
    const rows = page.getByTestId('tag-table').locator('tbody tr');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 2);
    const digestCell = await rows.filter({ hasText: '1.0' }).locator('td').first().innerText();
    assert.equal(digestCell, image.digest.slice('sha256:'.length, 'sha256:'.length + 12));
    assert.match(await rows.filter({ hasText: '1.0' }).innerText(), /linux\/amd64/);
    assert.match(await rows.filter({ hasText: '1.0' }).innerText(), /\bdev\b/, 'pushed by dev (with skopeo)');
    await page.getByRole('combobox', { name: 'Tag', exact: true }).selectOption('1.0');
    const command = `docker pull ${pier.host}/team/webapp:1.0`;
    assert.equal(await page.getByTestId('pull-command').innerText(), command);
    await page.getByRole('button', { name: 'Copy the pull command' }).click();
    await page.getByRole('button', { name: 'Copied the pull command' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), command);
    await page.getByRole('combobox', { name: 'Client', exact: true }).selectOption('podman');
    assert.equal(await page.getByTestId('pull-command').innerText(), `podman pull ${pier.host}/team/webapp:1.0`);
    await page.getByRole('combobox', { name: 'Client', exact: true }).selectOption('docker');
    await axeCheck('repository');
    await shot('repository');
  });

  it('opens a tag: its layers and config', async () => {
    await page.getByRole('link', { name: 'Tag 1.0' }).click();
    await page.getByRole('heading', { name: 'Layers' }).waitFor();
    const layers = page.getByTestId('layer-table').locator('tbody tr');
    assert.equal(await layers.count(), 2);
    for (const [i, layer] of image.manifest.layers.entries()) {
      assert.match(await layers.nth(i).innerText(), new RegExp(layer.digest.slice(7, 19)));
    }
    const labels = page.getByRole('definition').filter({ hasText: 'small' });
    assert.ok((await labels.count()) >= 1, 'the label org.example.fixture=small');
    await page.getByText('org.example.fixture').waitFor();
    await page.getByText('PIER_FIXTURE=small').waitFor();
    await page.getByText('/hello.txt').first().waitFor();
    await axeCheck('manifest');
    await shot('manifest');
  });

  it('shows the admin pages: storage (with GC runs), rules, users, API tokens', async () => {
    const gc = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'gc', '--config', pier.configFile], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(gc.status, 0, gc.stderr + gc.stdout);
    for (const [link, heading, name] of [
      ['Storage', 'Storage', 'storage'],
      ['Rules', 'Rules', 'rules'],
      ['Users', 'Users', 'users'],
      ['API tokens', 'API tokens', 'tokens'],
    ] as const) {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click();
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      await page.locator('main table, main .muted').first().waitFor();
      if (name === 'storage') {
        await page.getByRole('region', { name: 'Garbage collection runs' }).getByText('pier gc').waitFor();
        await page.getByRole('img', { name: /^Pushes and pulls per day/ }).waitFor();
        const today = new Date().toISOString().slice(0, 10);
        await page.getByText('The numbers').click();
        const row = await page.getByRole('region', { name: 'Activity per day' }).getByRole('row', { name: new RegExp(today) }).innerText();
        const [pushes] = row.split('\t').slice(1).map(Number);
        assert.ok(pushes! >= 3, `today's pushes in the chart's numbers: ${row}`);
      }
      await axeCheck(name);
      await shot(name, name !== 'storage');
    }
  });

  it('creates an API token from the page (the secret shown once) and revokes it', async () => {
    await page.getByLabel('Name', { exact: true }).fill('ci-robot');
    await page.getByRole('checkbox', { name: 'push' }).check();
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.locator('.notice code').innerText();
    assert.match(secret, /^pier_[0-9a-f]{16}_/);
    const v2 = await fetch(`${pier.url}/v2/team/webapp/tags/list`, { headers: { Authorization: basicAuth('ci', secret) } });
    assert.equal(v2.status, 200, 'the new token works on /v2');
    await page.getByRole('row', { name: /ci-robot/ }).waitFor();
    await page.getByRole('button', { name: 'Revoke token ci-robot' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('row', { name: /ci-robot/ }).waitFor({ state: 'detached' });
    assert.equal((await fetch(`${pier.url}/v2/team/webapp/tags/list`, { headers: { Authorization: basicAuth('ci', secret) } })).status, 401);
  });

  it('creates a webhook on its page, shows a push delivered to it, sends a test event and deletes a webhook', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
    const create = async (name: string, url: string): Promise<void> => {
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.getByLabel(/^URL/).fill(url);
      await page.getByLabel(/^Repositories/).fill('team/**');
      await page.getByRole('button', { name: 'Create webhook' }).click();
      await page.getByTestId('webhook-table').getByRole('row', { name: new RegExp(name) }).waitFor();
    };
    await create('ci-hook', `${receiver.url}/hook`);
    assert.match(await page.locator('.notice code').innerText(), /\S{20,}/, 'the signing secret, shown once');
    // A denied address is refused with the server's message.
    await page.getByLabel('Name', { exact: true }).fill('loopback');
    await page.getByLabel(/^URL/).fill('http://127.0.0.1:9/x');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await page.getByRole('alert').filter({ hasText: /127\.0\.0\.1|not allowed|denied/i }).waitFor();

    let started = Date.now();
    await pushTestImage(pier.url, 'team/hooked', basicAuth('alice', PASSWORDS.alice), { tag: 'v1' });
    await receiver.waitFor((r) => r.path === '/hook' && r.body.toString().includes('team/hooked'));
    const deliveries = page.getByTestId('delivery-table').locator('tbody tr');
    const pushRow = deliveries.filter({ hasText: 'team/hooked' }).filter({ hasText: 'delivered' }).first();
    await pushRow.waitFor();
    figures.pushToDeliveryShownMs = Date.now() - started;
    const cells = (await pushRow.locator('th, td').allInnerTexts()).map((t) => t.trim());
    assert.equal(cells[2], 'ci-hook', `endpoint: ${cells.join(' | ')}`);
    assert.equal(cells[4], '200', 'response code');
    assert.match(cells[5]!, /^\d+ ms$/, 'latency');
    assert.equal(cells[6], '1', 'attempts');
    assert.equal(cells[7], '—', 'no callback for the reference format');

    started = Date.now();
    const before = receiver.received.length;
    await page.getByRole('button', { name: 'Send test event to ci-hook' }).click();
    await page.getByText('Test event sent to ci-hook').first().waitFor();
    const [test] = await receiver.waitFor((r) => r.path === '/hook' && r.body.toString().includes('pier-test'));
    assert.ok(receiver.received.length > before);
    assert.ok(test!.headers['content-type']?.includes('application/vnd.docker.distribution.events'), `reference envelope: ${test!.headers['content-type']}`);
    await deliveries.filter({ hasText: 'delivered' }).nth(1).waitFor();
    figures.testEventToDeliveryShownMs = Date.now() - started;
    await axeCheck('webhooks');
    await shot('webhooks');

    await create('temp-hook', `${receiver.url}/temp`);
    await page.getByRole('button', { name: 'Delete webhook temp-hook' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete webhook' }).click();
    await page.getByTestId('webhook-table').getByRole('row', { name: /temp-hook/ }).waitFor({ state: 'detached' });
    const list = await fetch(`${pier.url}/pier/api/v1/webhooks`, { headers: { Authorization: basicAuth('alice', PASSWORDS.alice) } });
    assert.deepEqual(((await list.json()) as { webhooks: Array<{ name: string }> }).webhooks.map((w) => w.name), ['ci-hook']);
  });

  it('builds an uploaded context with the built-in builder and shows its log as it is written', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Builds' }).click();
    await page.getByRole('heading', { name: 'Builds', exact: true }).waitFor();
    await page.getByTestId('definition-table').getByRole('row', { name: /tiny/ }).waitFor();
    await page.getByLabel('Context archive (.tar or .tar.gz)').setInputFiles(contextArchive);
    await page.getByLabel('Tag', { exact: true }).fill('ui');
    // Every change the page makes to the build's status and log, as it happens (no reload in between).
    await page.evaluate(() => {
      const seen: Array<{ status: string; lines: number; at: number }> = [];
      (window as unknown as { buildSeen: typeof seen }).buildSeen = seen;
      new MutationObserver(() => {
        const log = document.querySelector('[data-testid="build-log"]');
        const status = document.querySelector('[data-testid="build-status"]')?.textContent ?? '';
        if (!log) return;
        const lines = (log.textContent ?? '').split('\n').filter((l) => l.trim() !== '').length;
        const last = seen[seen.length - 1];
        if (!last || last.status !== status || last.lines !== lines) seen.push({ status, lines, at: performance.now() });
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    const started = Date.now();
    await page.getByRole('button', { name: 'Upload and build' }).click();
    await page.getByTestId('build-log').waitFor();
    await page.getByTestId('build-status').getByText('succeeded').waitFor({ timeout: 60_000 });
    await page.getByTestId('build-log').getByText(/tagged team\/tiny:ui/).waitFor();
    figures.uploadToBuildSucceededMs = Date.now() - started;
    const seen = await page.evaluate(() => (window as unknown as { buildSeen: Array<{ status: string; lines: number; at: number }> }).buildSeen);
    figures.buildLogUpdatesSeen = seen.length;
    const whileRunning = seen.filter((s) => s.status !== 'succeeded' && s.lines > 0);
    assert.ok(whileRunning.length >= 1, `log lines shown before the build ended: ${JSON.stringify(seen)}`);
    assert.ok(new Set(seen.map((s) => s.lines)).size >= 3, `the log grew in steps on the page: ${JSON.stringify(seen)}`);
    const log = await page.getByTestId('build-log').innerText();
    assert.match(log, /built-in builder/);
    assert.match(log, /COPY c\.bin/);
    const tagged = /tagged team\/tiny:ui → (sha256:[0-9a-f]{64})/.exec(log);
    assert.ok(tagged, log);
    const manifest = await fetch(`${pier.url}/v2/team/tiny/manifests/ui`, { method: 'HEAD', headers: { Authorization: basicAuth('alice', PASSWORDS.alice), Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.headers.get('docker-content-digest'), tagged[1], 'the registry serves what the log says was built');
    await axeCheck('build');
    await shot('build-log');

    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Builds' }).click();
    const history = page.getByTestId('build-table').locator('tbody tr');
    await history.filter({ hasText: 'succeeded' }).filter({ hasText: 'team/tiny' }).waitFor();
    await axeCheck('builds');
    await shot('builds');

    // The repository page shows the repository's build definition and the webhooks that cover it.
    await page.goto(`${pier.url}/#/repositories/team/tiny`);
    await page.getByTestId('repository-definitions').getByRole('row', { name: /tiny/ }).waitFor();
    await page.getByTestId('repository-webhooks').getByRole('row', { name: /ci-hook/ }).waitFor();
    await axeCheck('repository (webhooks and builds)');
    await shot('repository-automation');
  });

  it('deletes a tag as an allowed user, after confirmation; everything on the way works with the keyboard', async () => {
    await signOut();
    await signIn('dev');
    // Keyboard only: skip link, search, open the result, open the confirmation and cancel it with Escape.
    await page.goto(`${pier.url}/?keyboard#/`); // a fresh load: focus starts at the top
    await page.getByTestId('repository-table').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
    const focusedIs = (what: string): Promise<boolean> => page.evaluate((w) => document.activeElement?.matches(w) ?? false, what);
    for (let i = 0; i < 5 && !(await focusedIs('#repo-search')); i++) await page.keyboard.press('Tab');
    assert.ok(await focusedIs('#repo-search'), 'the search box is reachable with Tab');
    await page.keyboard.type('webapp');
    await page.getByText('Showing 1–1 of 1 repositories').waitFor();
    for (let i = 0; i < 8 && !(await focusedIs('a[href$="team/webapp"]')); i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'team/webapp' }).waitFor();
    await page.getByRole('button', { name: 'Delete tag old' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Delete tag old?' });
    await dialog.waitFor();
    assert.ok(await page.evaluate(() => document.activeElement?.closest('dialog') !== null), 'focus moves into the dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await page.getByTestId('tag-table').locator('tbody tr').count(), 2, 'Escape cancelled');
    await page.getByRole('button', { name: 'Delete tag old' }).click();
    await dialog.waitFor();
    await axeCheck('delete-dialog');
    await shot('delete-tag-dialog');
    await dialog.getByRole('button', { name: 'Delete tag' }).click();
    await page.getByRole('button', { name: 'Delete tag old' }).waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('tag-table').locator('tbody tr').count(), 1);
    const tags = await fetch(`${pier.url}/v2/team/webapp/tags/list`, { headers: { Authorization: basicAuth('dev', PASSWORDS.dev) } });
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['1.0'], 'the registry no longer has the tag');
  });

  it('offers no delete to a pull-only user, and the API refuses one from its session', async () => {
    await signOut();
    await signIn('viewer');
    await page.goto(`${pier.url}/#/repositories/team/webapp`);
    await page.getByTestId('tag-table').locator('tbody tr').first().waitFor();
    assert.equal(await page.getByRole('button', { name: /^Delete/ }).count(), 0);
    // Webhooks and builds are admins' business: no links, no sections, and their pages are not routed.
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Webhooks' }).count() + (await nav.getByRole('link', { name: 'Builds' }).count()), 0);
    assert.equal(await page.getByRole('heading', { name: /^(Webhooks|Build definitions)$/ }).count(), 0);
    await page.getByRole('link', { name: 'Tag 1.0' }).click();
    await page.getByRole('heading', { name: 'Layers' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Delete manifest' }).count(), 0);
    const status = await page.evaluate(async () => {
      const session = (await (await fetch('/pier/api/v1/session')).json()) as { csrfToken: string };
      const res = await fetch('/pier/api/v1/repositories/team/webapp/tags/1.0', { method: 'DELETE', headers: { 'X-CSRF-Token': session.csrfToken } });
      return res.status;
    });
    assert.equal(status, 403);
  });

  it('signs out, then browses anonymously again', async () => {
    await signOut();
    const session = await page.evaluate(async () => (await (await fetch('/pier/api/v1/session')).json()) as { signedIn: boolean });
    assert.equal(session.signedIn, false);
    await page.goto(`${pier.url}/#/`);
    await page.getByTestId('repository-table').getByRole('link', { name: 'public/hello' }).waitFor();
    assert.equal(await page.getByTestId('repository-table').locator('tbody tr').count(), 1);
  });

  it('has a dark theme and fits a phone-sized screen', async () => {
    await signIn('alice');
    await page.goto(`${pier.url}/#/repositories/team/webapp`);
    await page.getByTestId('tag-table').waitFor();
    await page.getByRole('button', { name: 'Dark theme' }).click();
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark');
    await axeCheck('repository (dark)');
    await shot('repository-dark');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${pier.url}/#/repositories/team/webapp`);
    await page.getByTestId('tag-table').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling of the page on a phone (${overflow}px)`);
    await axeCheck('repository (phone)');
    await shot('repository-phone');
    await page.getByRole('button', { name: 'Light theme' }).click();
    await page.setViewportSize({ width: 1280, height: 800 });
    assert.deepEqual(pageProblems, [], 'no script error and no CSP violation on any page');
  });
});
