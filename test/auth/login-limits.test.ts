/**
 * Failed-login limits with the defaults — the configuration a user of the reference registry's own
 * config.yml gets (it has no `access.loginlimit`): guessing is throttled, nobody is locked out, and the
 * answer's timing does not tell whether a user exists. Passwords are bcrypt cost 10, made by Apache's
 * `htpasswd -B`.
 *
 *   who                                          | after 50 wrong passwords for alice from X
 *   alice, correct password, from Y              | served (200)
 *   bob, correct password, from X                | served (200)
 *   alice from X (the guessing pair)             | 429 + Retry-After, password not checked
 *   anyone from X after 100 failures in a minute | 429 + Retry-After (access.loginlimit.addressmaxfailures)
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { basic, send, startFromConfig, tempDir, type InProcessPier } from './fixtures.ts';
import { requireTools } from '../support/tools.ts';

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('failed-login limits with the defaults', { timeout: 120_000 }, () => {
  let dir: string;
  let pier: InProcessPier;

  before(async () => {
    requireTools('htpasswd');
    dir = tempDir('login-limits');
    const line = (user: string, password: string) => execFileSync('htpasswd', ['-nbB', '-C', '10', user, password]).toString().trim();
    writeFileSync(join(dir, 'htpasswd'), `${line('alice', 'alice-password')}\n${line('bob', 'bob-password')}\n`);
    const yaml = ['version: 0.1', 'storage:', '  filesystem:', '    rootdirectory: /unused', 'auth:', '  htpasswd:', '    realm: pier-test', `    path: ${join(dir, 'htpasswd')}`, ''];
    pier = await startFromConfig(yaml.join('\n'));
  });

  after(async () => {
    await pier?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const login = (user: string, password: string, from: string) => send(`${pier.url}/v2/`, { headers: { Authorization: basic(user, password) }, localAddress: from });

  it('50 wrong passwords for alice from X: alice from Y and bob from X are served; the burst from X gets 429 + Retry-After', async () => {
    const X = '127.0.0.41';
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 50; i++) {
      const reply = await login('alice', `guess-${i}`, X);
      statuses.push(reply.status);
      if (reply.status === 429) retryAfter ??= reply.headers['retry-after'] as string;
    }
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.ok(statuses.slice(5).every((s) => s === 429), `the rest of the burst is throttled: ${statuses.join(',')}`);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After: ${retryAfter}`);
    assert.equal((await login('alice', 'alice-password', '127.0.0.42')).status, 200, 'alice from another address');
    assert.equal((await login('bob', 'bob-password', X)).status, 200, 'bob from the same address');
    assert.equal((await login('alice', 'alice-password', X)).status, 429, 'the guessing pair stays throttled, password unchecked');
  });

  it('a wrong password and an unknown user take the same time (medians within 2x)', async () => {
    const time = async (user: string, from: string): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const reply = await login(user, 'not-the-password', from);
      assert.equal(reply.status, 401);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 7; i++) {
      // A new address each time keeps every attempt under the pair limit.
      known.push(await time('bob', `127.0.1.${i + 1}`));
      unknown.push(await time(`ghost${i}`, `127.0.2.${i + 1}`));
    }
    const [k, u] = [median(known), median(unknown)];
    assert.ok(k / u < 2 && u / k < 2, `median wrong password ${k.toFixed(1)} ms, unknown user ${u.toFixed(1)} ms`);
  });
});
