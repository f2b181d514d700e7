// Authentication against the real registry: htpasswd Basic, and the Docker
// token flow through the test token server (anonymous, basic credentials,
// identity tokens, token reuse and refresh). Refusals name the registry and the
// credential, never the secret.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { startRegistry } from '../../src/dev/registry-server';
import { startFaultServer } from '../../src/dev/fault-server';
import { sha256 } from '../../src/dev/image-builder';
import { staticKeychain } from '../../src/auth/keychain';
import { openRepository } from '../../src/registry';
import { pushMiniWeb, readAll, rejection } from './fixtures';

const fast = { backoffMs: 5, retries: 2 };
const USERS = { alice: 'wonderland-secret' };
const alice = staticKeychain({ kind: 'basic', username: 'alice', password: USERS.alice });
const mallory = staticKeychain({ kind: 'basic', username: 'alice', password: 'not-the-password' });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('basic auth (htpasswd)', async (t) => {
  const reg = await startRegistry({ auth: 'basic', users: USERS });
  t.after(() => reg.stop());
  const px = await pushMiniWeb(reg, 'team/app:v1');

  await t.test('right password: manifest and blob', async () => {
    const repo = openRepository({ registry: reg.host, repository: 'team/app' }, { ...fast, keychain: alice });
    const m = await repo.manifest('v1');
    assert.equal(m.digest, px.image.manifestDigest);
    const b = await repo.blob(px.image.configDigest);
    assert.equal(sha256(await readAll(b.stream)), px.image.configDigest);
  });

  await t.test('wrong password: UNAUTHORIZED naming registry and user, not the password', async () => {
    const repo = openRepository({ registry: reg.host, repository: 'team/app' }, { ...fast, keychain: mallory });
    const e = await rejection(repo.manifest('v1'));
    assert.equal(e.code, 'UNAUTHORIZED');
    assert.ok(e.message.includes(reg.host), e.message);
    assert.match(e.message, /rejected the credentials \(user alice, taken from .*config\.json/);
    assert.ok(!e.message.includes('not-the-password') && !JSON.stringify(e.details).includes('not-the-password'));
  });

  await t.test('no credentials: UNAUTHORIZED saying none were found', async () => {
    const repo = openRepository({ registry: reg.host, repository: 'team/app' }, fast);
    const e = await rejection(repo.manifest('v1'));
    assert.equal(e.code, 'UNAUTHORIZED');
    assert.match(e.message, /requires authentication and no credentials were found/);
  });
});

test('token auth, anonymous pull allowed', async (t) => {
  const reg = await startRegistry({ auth: 'token', users: USERS, anonymousPull: true });
  t.after(() => reg.stop());
  const px = await pushMiniWeb(reg, 'pub/app:v1');

  await t.test('anonymous: one token serves the manifest and every blob', async () => {
    const before = reg.tokenRequests!.length;
    const repo = openRepository({ registry: reg.host, repository: 'pub/app' }, fast);
    const m = await repo.manifest('v1');
    assert.equal(m.digest, px.image.manifestDigest);
    await Promise.all(
      [px.image.configDigest, ...px.image.manifest.layers.map((l) => l.digest)].map(async (d) => {
        const b = await repo.blob(d);
        assert.equal(sha256(await readAll(b.stream)), d);
      }),
    );
    const seen = reg.tokenRequests!.slice(before);
    assert.equal(seen.length, 1, JSON.stringify(seen));
    assert.deepEqual(seen[0].scopes, ['repository:pub/app:pull']);
    assert.equal(seen[0].user, undefined);
    assert.equal(seen[0].granted, true);
  });

  await t.test('with credentials the token is asked for as that user', async () => {
    const before = reg.tokenRequests!.length;
    const repo = openRepository({ registry: reg.host, repository: 'pub/app' }, { ...fast, keychain: alice });
    await repo.manifest('v1');
    const seen = reg.tokenRequests!.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].user, 'alice');
  });
});

test('token auth, credentials required', async (t) => {
  const reg = await startRegistry({ auth: 'token', users: USERS, identityTokens: { 'refresh-7f3a': 'alice' }, tokenTtl: 2 });
  t.after(() => reg.stop());
  const px = await pushMiniWeb(reg, 'private/app:v1');

  await t.test('anonymous is refused with UNAUTHORIZED', async () => {
    const repo = openRepository({ registry: reg.host, repository: 'private/app' }, fast);
    const e = await rejection(repo.manifest('v1'));
    assert.equal(e.code, 'UNAUTHORIZED');
    assert.match(e.message, /requires authentication and no credentials were found/);
  });

  await t.test('right credentials pull', async () => {
    const repo = openRepository({ registry: reg.host, repository: 'private/app' }, { ...fast, keychain: alice });
    const m = await repo.manifest('v1');
    assert.equal(m.digest, px.image.manifestDigest);
  });

  await t.test('wrong password: the token server refuses, message names user and registry only', async () => {
    const before = reg.tokenRequests!.length;
    const repo = openRepository({ registry: reg.host, repository: 'private/app' }, { ...fast, keychain: mallory });
    const e = await rejection(repo.manifest('v1'));
    assert.equal(e.code, 'UNAUTHORIZED');
    assert.ok(e.message.includes(reg.host), e.message);
    assert.match(e.message, /user alice/);
    assert.ok(!e.message.includes('not-the-password'));
    // Refused credentials are not retried.
    assert.equal(reg.tokenRequests!.length - before, 1);
  });

  await t.test('an identity token is exchanged by POST (OAuth2 refresh_token grant)', async () => {
    const before = reg.tokenRequests!.length;
    const kc = staticKeychain({ kind: 'identityToken', token: 'refresh-7f3a' });
    const repo = openRepository({ registry: reg.host, repository: 'private/app' }, { ...fast, keychain: kc });
    const m = await repo.manifest('v1');
    assert.equal(m.digest, px.image.manifestDigest);
    const seen = reg.tokenRequests!.slice(before);
    assert.deepEqual(
      seen.map((r) => [r.method, r.user, r.granted]),
      [['POST', 'alice', true]],
    );
    const bad = openRepository({ registry: reg.host, repository: 'private/app' }, { ...fast, keychain: staticKeychain({ kind: 'identityToken', token: 'stolen' }) });
    const e = await rejection(bad.manifest('v1'));
    assert.equal(e.code, 'UNAUTHORIZED');
    assert.match(e.message, /identity token/);
    assert.ok(!e.message.includes('stolen'));
  });

  await t.test('an expired token is replaced (tokenTtl 2s)', async () => {
    const before = reg.tokenRequests!.length;
    const repo = openRepository({ registry: reg.host, repository: 'private/app' }, { ...fast, keychain: alice });
    await repo.manifest('v1');
    await repo.manifest(px.image.manifestDigest);
    assert.equal(reg.tokenRequests!.length - before, 1, 'reused while fresh');
    await sleep(2500);
    // Four requests at once after expiry share one new token.
    await Promise.all(
      [px.image.configDigest, ...px.image.manifest.layers.map((l) => l.digest)].map(async (d) => {
        const b = await repo.blob(d);
        assert.equal(sha256(await readAll(b.stream)), d);
      }),
    );
    assert.equal(reg.tokenRequests!.length - before, 2, 'one new token after expiry');
  });

  await t.test('a 401 on a fresh token makes the client fetch a new one, once', async () => {
    const fault = await startFaultServer(reg, [
      {
        path: /\/manifests\/v1$/,
        action: {
          kind: 'status',
          status: 401,
          headers: { 'www-authenticate': `Bearer realm="${reg.tokenRealm}",service="ocimount-test-registry",scope="repository:private/app:pull"` },
          body: JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token revoked' }] }),
        },
      },
    ]);
    t.after(() => fault.stop());
    const before = reg.tokenRequests!.length;
    const repo = openRepository({ registry: fault.host, repository: 'private/app' }, { ...fast, keychain: alice });
    const m = await repo.manifest('v1');
    assert.equal(m.digest, px.image.manifestDigest);
    assert.equal(reg.tokenRequests!.length - before, 2);
    const manifestRequests = fault.requests.filter((r) => r.path.endsWith('/manifests/v1'));
    assert.deepEqual(manifestRequests.map((r) => r.fault ?? 'passed'), ['status', 'passed']);
    // Always 401 although the token server took alice: no pull access, after one refresh, not looped.
    fault.faults = [{ path: /\/manifests\/v1$/, times: Infinity, action: fault.faults[0].action }];
    fault.requests.length = 0;
    const e = await rejection(repo.manifest('v1'));
    assert.equal(e.code, 'DENIED');
    assert.match(e.message, /did not grant user alice pull access to private\/app/);
    assert.equal(fault.requests.filter((r) => r.path.endsWith('/manifests/v1')).length, 2);
  });
});
