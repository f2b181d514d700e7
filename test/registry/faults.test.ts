// Faults the real registry cannot produce on demand, injected by the fault
// proxy in front of it: 429 with Retry-After, 5xx, resets, truncated bodies,
// cross-host redirects, schema1 and oversized manifests, aborts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { startRegistry } from '../../src/dev/registry-server';
import { startFaultServer } from '../../src/dev/fault-server';
import type { Fault } from '../../src/dev/fault-server';
import { sha256 } from '../../src/dev/image-builder';
import { staticKeychain } from '../../src/auth/keychain';
import { MediaType } from '../../src/image/types';
import { openRepository } from '../../src/registry';
import type { RegistryClientOptions } from '../../src/registry';
import { pushBigImage, pushMiniWeb, readAll, rejection } from './fixtures';

const USERS = { carol: 'fault-pass' };
const keychain = staticKeychain({ kind: 'basic', username: 'carol', password: USERS.carol });

test('faults between client and registry', async (t) => {
  // Basic auth behind the proxy, so we can see where Authorization goes.
  const reg = await startRegistry({ auth: 'basic', users: USERS });
  t.after(() => reg.stop());
  const px = await pushMiniWeb(reg, 'f/app:v1');
  // The fault proxy can only cut bodies that arrive in more than one read.
  const big = await pushBigImage(reg, 'f/big:v1');
  const fault = await startFaultServer(reg);
  t.after(() => fault.stop());
  const layer = px.image.manifest.layers[1];
  const layerBytes = px.blob(layer.digest);

  /** A fresh client and a clean request log for each case. */
  const client = (faults: Fault[], opts: RegistryClientOptions = {}, repository = 'f/app') => {
    fault.faults = faults;
    fault.requests.length = 0;
    const lines: string[] = [];
    const repo = openRepository({ registry: fault.host, repository }, { keychain, backoffMs: 5, retries: 3, log: (l) => lines.push(l), ...opts });
    return { repo, lines, hits: (re: RegExp) => fault.requests.filter((r) => re.test(r.path)) };
  };

  await t.test('429 with Retry-After is waited out, then succeeds', async () => {
    const c = client([{ path: /\/manifests\/v1$/, action: { kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }) } }]);
    const m = await c.repo.manifest('v1');
    assert.equal(m.digest, px.image.manifestDigest);
    assert.deepEqual(c.hits(/\/manifests\/v1$/).map((r) => r.fault ?? 'passed'), ['status', 'passed']);
    assert.ok(c.lines.some((l) => /RATE_LIMITED .* attempt 2 of 3 in 1000 ms/.test(l)), c.lines.join('\n'));
  });

  await t.test('429 asking for an hour fails at once with RATE_LIMITED', async () => {
    const c = client([{ path: /\/manifests\/v1$/, times: Infinity, action: { kind: 'status', status: 429, headers: { 'retry-after': '3600' } } }]);
    const e = await rejection(c.repo.manifest('v1'));
    assert.equal(e.code, 'RATE_LIMITED');
    assert.equal(c.hits(/\/manifests\/v1$/).length, 1);
  });

  await t.test('5xx twice, then success', async () => {
    const c = client([{ path: /\/blobs\//, times: 2, action: { kind: 'status', status: 503 } }]);
    const b = await c.repo.blob(layer.digest);
    assert.deepEqual(await readAll(b.stream), layerBytes);
    assert.deepEqual(c.hits(/\/blobs\//).map((r) => r.fault ?? 'passed'), ['status', 'status', 'passed']);
  });

  await t.test('persistent 5xx: SERVER after exactly `retries` attempts', async () => {
    const c = client([{ path: /\/manifests\/v1$/, times: Infinity, action: { kind: 'status', status: 502 } }]);
    const e = await rejection(c.repo.manifest('v1'));
    assert.equal(e.code, 'SERVER');
    assert.match(e.message, /HTTP 502 while fetching manifest f\/app:v1/);
    assert.equal(c.hits(/\/manifests\/v1$/).length, 3);
  });

  await t.test('4xx is not retried', async () => {
    const c = client([{ path: /\/manifests\/v1$/, times: Infinity, action: { kind: 'status', status: 403, body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'no' }] }) } }]);
    const e = await rejection(c.repo.manifest('v1'));
    assert.equal(e.code, 'DENIED');
    assert.equal(c.hits(/\/manifests\/v1$/).length, 1);
  });

  await t.test('a connection reset, then success', async () => {
    const c = client([{ path: /\/blobs\//, action: { kind: 'reset' } }]);
    const b = await c.repo.blob(layer.digest);
    assert.equal(sha256(await readAll(b.stream)), layer.digest);
    assert.deepEqual(c.hits(/\/blobs\//).map((r) => r.fault ?? 'passed'), ['reset', 'passed']);
  });

  await t.test('a manifest cut short is fetched again', async () => {
    const c = client([{ path: /\/manifests\/v1$/, action: { kind: 'truncate', afterBytes: 1000 } }], {}, 'f/big');
    const m = await c.repo.manifest('v1');
    assert.equal(m.digest, big.manifestDigest);
    assert.deepEqual(m.body, big.manifestBody);
    assert.deepEqual(c.hits(/\/manifests\/v1$/).map((r) => r.fault ?? 'passed'), ['truncate', 'passed']);
    assert.ok(c.lines.some((l) => /TRUNCATED \(.*closed the connection after \d+ bytes of manifest f\/big:v1/.test(l)), c.lines.join('\n'));
  });

  await t.test('a blob cut short errors the stream with TRUNCATED, and resumes by Range', async () => {
    const whole = big.blob(big.layerDigest);
    const c = client([{ path: /\/blobs\//, action: { kind: 'truncate', afterBytes: 100_000 } }], {}, 'f/big');
    const b = await c.repo.blob(big.layerDigest);
    assert.equal(b.size, whole.length);
    const got: Buffer[] = [];
    const e = await rejection(
      (async () => {
        for await (const chunk of b.stream) got.push(chunk as Buffer);
      })(),
    );
    assert.equal(e.code, 'TRUNCATED');
    const head = Buffer.concat(got);
    assert.equal(head.length, 100_000);
    const rest = await c.repo.blob(big.layerDigest, { offset: head.length });
    assert.equal(rest.offset, head.length);
    assert.equal(rest.size, whole.length);
    assert.equal(sha256(Buffer.concat([head, await readAll(rest.stream)])), big.layerDigest);
    assert.equal(c.hits(/\/blobs\//)[1].headers.range, 'bytes=100000-');
  });

  await t.test('a redirect to another host is followed without Authorization', async () => {
    const c = client([{ path: /\/blobs\//, times: 2, action: { kind: 'redirect' } }]);
    const b = await c.repo.blob(layer.digest);
    assert.deepEqual(await readAll(b.stream), layerBytes);
    const front = c.hits(/\/blobs\//).filter((r) => r.listener === 'front');
    const cdn = fault.requests.filter((r) => r.listener === 'redirect');
    assert.equal(front.length, 1);
    assert.match(String(front[0].headers.authorization), /^Basic /);
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0].headers.authorization, undefined);
    // Range survives the redirect.
    const r = await c.repo.blob(layer.digest, { offset: 7 });
    assert.equal(r.offset, 7);
    assert.deepEqual(await readAll(r.stream), layerBytes.subarray(7));
  });

  await t.test('schema1 manifests are UNSUPPORTED, by Content-Type or by schemaVersion', async () => {
    const schema1 = JSON.stringify({ schemaVersion: 1, name: 'f/app', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [] });
    for (const contentType of [MediaType.DockerManifestSchema1Signed, 'application/json']) {
      const c = client([{ path: /\/manifests\/old$/, action: { kind: 'status', status: 200, headers: { 'content-type': contentType }, body: schema1 } }]);
      const e = await rejection(c.repo.manifest('old'));
      assert.equal(e.code, 'UNSUPPORTED');
      assert.match(e.message, /Docker schema1 manifests are not supported; re-push the image with a current client/);
    }
  });

  await t.test('media type falls back to the document when Content-Type says nothing', async () => {
    const c = client([{ path: /\/manifests\/plain$/, action: { kind: 'status', status: 200, headers: { 'content-type': 'application/json' }, body: px.manifestBody.toString() } }]);
    const m = await c.repo.manifest('plain');
    assert.equal(m.mediaType, MediaType.OciManifest);
    assert.equal(m.digest, px.image.manifestDigest);
  });

  await t.test('a manifest over 4 MiB is refused', async () => {
    const big = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, pad: 'x'.repeat(4 * 1024 * 1024) });
    const c = client([{ path: /\/manifests\/big$/, action: { kind: 'status', status: 200, headers: { 'content-type': MediaType.OciManifest }, body: big } }]);
    const e = await rejection(c.repo.manifest('big'));
    assert.equal(e.code, 'PROTOCOL');
    assert.match(e.message, /more than the 4194304/);
  });

  await t.test('a digest the registry claims but the body does not match is DIGEST_MISMATCH', async () => {
    const other = sha256('something else');
    const c = client([{ path: /\/manifests\/liar$/, action: { kind: 'status', status: 200, headers: { 'content-type': MediaType.OciManifest, 'docker-content-digest': other }, body: px.manifestBody.toString() } }]);
    const e = await rejection(c.repo.manifest('liar'));
    assert.equal(e.code, 'DIGEST_MISMATCH');
  });

  await t.test('abort mid-blob ends the stream with the abort, not TRUNCATED', async () => {
    const ac = new AbortController();
    const c = client([], { signal: ac.signal }, 'f/big');
    const b = await c.repo.blob(big.layerDigest);
    let n = 0;
    const e = await rejection(
      (async () => {
        for await (const chunk of b.stream) {
          n += (chunk as Buffer).length;
          ac.abort();
        }
      })(),
    );
    assert.equal(e.name, 'AbortError');
    assert.ok(n < big.blob(big.layerDigest).length);
    // An aborted client refuses new work at once.
    assert.equal((await rejection(c.repo.manifest('v1'))).name, 'AbortError');
  });

  await t.test('abort stops a request waiting to retry', async () => {
    const ac = new AbortController();
    const c = client([{ path: /\/manifests\/v1$/, times: Infinity, action: { kind: 'status', status: 503 } }], { signal: ac.signal, backoffMs: 60_000, log: (l) => /attempt 2/.test(l) && ac.abort() });
    const e = await rejection(c.repo.manifest('v1'));
    assert.equal(e.name, 'AbortError');
    assert.equal(c.hits(/\/manifests\/v1$/).length, 1);
  });
});
