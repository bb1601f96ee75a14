/** The pieces of access control as plain values: scopes, patterns, the policy, and the login limiter's clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessPolicy } from '../../src/auth/policy.ts';
import { compilePattern } from '../../src/registry/policies/patterns.ts';
import { covers, intersect, mergeAccess, parseScopes } from '../../src/auth/scope.ts';
import { LoginLimiter } from '../../src/auth/login-limiter.ts';
import { parseHtpasswd } from '../../src/auth/htpasswd.ts';
import { parseBasic } from '../../src/auth/access-control.ts';
import { requiredAccess } from '../../src/http/request-gate.ts';

describe('scopes', () => {
  it('parses the forms clients send, including names with a registry port, and skips malformed ones', () => {
    assert.deepEqual(parseScopes('repository:library/app:pull,push'), [{ type: 'repository', name: 'library/app', actions: ['pull', 'push'] }]);
    assert.deepEqual(parseScopes('repository:localhost:5000/app:pull registry:catalog:*'), [
      { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
    assert.deepEqual(parseScopes('repository(plugin):vieux/sshfs:pull'), [{ type: 'repository', name: 'vieux/sshfs', actions: ['pull'] }]);
    assert.deepEqual(parseScopes('repository:app: bogus ::pull repository::pull'), []);
    assert.deepEqual(mergeAccess([...parseScopes('repository:a:pull'), ...parseScopes('repository:a:push,pull')]), [{ type: 'repository', name: 'a', actions: ['pull', 'push'] }]);
  });

  it('intersects what is asked with what is allowed; * covers everything', () => {
    assert.deepEqual(intersect(['pull', 'push'], new Set(['pull'])), ['pull']);
    assert.deepEqual(intersect(['*'], new Set(['pull', 'delete'])), ['pull', 'delete']);
    assert.deepEqual(intersect(['*'], new Set(['*'])), ['*']);
    assert.deepEqual(intersect(['delete'], new Set(['*'])), ['delete']);
    assert.equal(covers(['*'], 'push'), true);
    assert.equal(covers(new Set(['pull']), 'push'), false);
  });

  it('maps routes to what they need, as the reference registry does', () => {
    assert.deepEqual(requiredAccess('base', 'GET', undefined), []);
    assert.deepEqual(requiredAccess('catalog', 'GET', undefined), [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
    assert.deepEqual(requiredAccess('manifest', 'HEAD', 'a/b'), [{ type: 'repository', name: 'a/b', actions: ['pull'] }]);
    assert.deepEqual(requiredAccess('manifest', 'PUT', 'a/b'), [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }]);
    assert.deepEqual(requiredAccess('upload', 'PATCH', 'a/b'), [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }]);
    assert.deepEqual(requiredAccess('blob', 'DELETE', 'a/b'), [{ type: 'repository', name: 'a/b', actions: ['delete'] }]);
  });
});

describe('patterns and the policy', () => {
  it('* stays within a path segment, ** crosses segments, the rest is literal', () => {
    assert.equal(compilePattern('team/*').test('team/app'), true);
    assert.equal(compilePattern('team/*').test('team/app/sub'), false);
    assert.equal(compilePattern('team/**').test('team/app/sub'), true);
    assert.equal(compilePattern('team/**').test('team'), false);
    assert.equal(compilePattern('a.b/c').test('aXb/c'), false, 'a dot is a dot');
    assert.equal(compilePattern('**').test('anything/at/all'), true);
  });

  it('without a policy: every authenticated user may do everything, anonymous nothing', () => {
    const open = new AccessPolicy(undefined);
    assert.deepEqual([...open.allowed('anyone', 'repository', 'x/y')].sort(), ['delete', 'pull', 'push']);
    assert.deepEqual([...open.allowed(undefined, 'repository', 'x/y')], []);
    assert.equal(open.filtersCatalog('anyone'), false);
    assert.deepEqual([...open.allowed(undefined, 'registry', 'catalog')], []);
  });

  it('with a policy: admins, groups, everyone-rules, namespaces and anonymous patterns', () => {
    const policy = new AccessPolicy({
      admins: ['root'],
      groups: { devs: ['dan'], ops: ['olga', 'dan'] },
      anonymous: ['public/*'],
      namespaces: true,
      rules: [
        { repositories: ['team/**'], users: [], groups: ['devs'], actions: ['pull', 'push'] },
        { repositories: ['team/**'], users: [], groups: ['ops'], actions: ['delete'] },
        { repositories: ['base/*'], users: ['*'], groups: [], actions: ['pull'] },
        { repositories: ['tools/*'], users: ['tim'], groups: [], actions: ['*'] },
      ],
    });
    const actions = (user: string | undefined, repo: string) => [...policy.allowed(user, 'repository', repo)].sort();
    assert.deepEqual(actions('root', 'anything'), ['delete', 'pull', 'push']);
    assert.deepEqual(actions('dan', 'team/app'), ['delete', 'pull', 'push'], 'union of both groups');
    assert.deepEqual(actions('olga', 'team/app'), ['delete']);
    assert.deepEqual(actions('olga', 'base/os'), ['pull']);
    assert.deepEqual(actions(undefined, 'base/os'), []);
    assert.deepEqual(actions(undefined, 'public/x'), ['pull']);
    assert.deepEqual(actions(undefined, 'public/x/y'), []);
    assert.deepEqual(actions('tim', 'tools/t'), ['delete', 'pull', 'push']);
    assert.deepEqual(actions('tim', 'tim/own/deep'), ['delete', 'pull', 'push'], 'namespace');
    assert.deepEqual(actions('tim', 'timothy/x'), [], 'the namespace is tim/, not tim*');
    assert.deepEqual(actions('tim', 'dan/x'), []);
    assert.deepEqual([...policy.allowed('tim', 'registry', 'catalog')], ['*']);
    assert.deepEqual([...policy.allowed(undefined, 'registry', 'catalog')], ['*'], 'anonymous may list what it may pull');
    assert.equal(policy.filtersCatalog('root'), false);
    assert.equal(policy.filtersCatalog('tim'), true);
  });
});

describe('login limiter', () => {
  it('throttles an (account, address) pair after maxfailures, and an address only after addressmaxfailures; forgets after the window', () => {
    let now = 1_000_000;
    const limiter = new LoginLimiter({ maxFailures: 3, addressMaxFailures: 5, windowMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      assert.equal(limiter.check('alice', '10.0.0.1').allowed, true);
      limiter.recordFailure('alice', '10.0.0.1');
      now += 1000;
    }
    const refused = limiter.check('alice', '10.0.0.1');
    assert.deepEqual(refused, { allowed: false, retryAfterSeconds: 57, limit: 'account-address' }, 'until the first failure leaves the window');
    assert.equal(limiter.check('alice', '10.0.0.2').allowed, true, 'the account from elsewhere is not locked out');
    assert.equal(limiter.check('bob', '10.0.0.1').allowed, true, 'nor another account from the same address');
    limiter.recordFailure('bob', '10.0.0.1');
    limiter.recordFailure('carol', '10.0.0.1');
    assert.deepEqual(limiter.check('dave', '10.0.0.1'), { allowed: false, retryAfterSeconds: 57, limit: 'address' }, 'five failures from one address');
    assert.equal(limiter.check('dave', '10.0.0.2').allowed, true);
    now += 57_000;
    assert.equal(limiter.check('alice', '10.0.0.1').allowed, true);
    assert.equal(limiter.check('dave', '10.0.0.1').allowed, true);
  });

  it('a success clears its pair; a limit of 0 is off', () => {
    const limiter = new LoginLimiter({ maxFailures: 2, addressMaxFailures: 0, windowMs: 60_000 });
    limiter.recordFailure('alice', 'a');
    limiter.recordSuccess('alice', 'a');
    limiter.recordFailure('alice', 'a');
    assert.equal(limiter.check('alice', 'a').allowed, true);
    for (let i = 0; i < 1000; i++) limiter.recordFailure(`u${i}`, 'a');
    assert.equal(limiter.check('zed', 'a').allowed, true, 'no address limit');
    const off = new LoginLimiter({ maxFailures: 0, addressMaxFailures: 0, windowMs: 60_000 });
    for (let i = 0; i < 100; i++) off.recordFailure('alice', 'a');
    assert.equal(off.check('alice', 'a').allowed, true);
  });
});

describe('credentials', () => {
  it('parses Basic credentials whose password holds colons; refuses malformed ones', () => {
    assert.deepEqual(parseBasic(Buffer.from('u:p:a:ss').toString('base64')), { user: 'u', password: 'p:a:ss' });
    assert.equal(parseBasic(Buffer.from(':nouser').toString('base64')), undefined);
    assert.equal(parseBasic('not base64!'), undefined);
  });

  it('reads htpasswd lines: comments, blank lines, and what is refused and why', () => {
    const parsed = parseHtpasswd(`# comment\n\nok:$2y$05$${'a'.repeat(53)}\nsha:{SHA}abc=\nnocolon\n`);
    assert.deepEqual([...parsed.users.keys()], ['ok']);
    assert.deepEqual(parsed.rejected.map((r) => [r.user, r.line]), [['sha', 4], ['', 5]]);
  });
});
