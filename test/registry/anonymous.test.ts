// The client against Debian's real registry without auth: manifests and blobs
// byte for byte, Range resume, not-found errors, digest checks.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { freePort, startRegistry } from '../../src/dev/registry-server';
import type { Registry } from '../../src/dev/registry-server';
import { sha256 } from '../../src/dev/image-builder';
import { MediaType } from '../../src/image/types';
import { openRepository } from '../../src/registry';
import { pushMiniWeb, readAll, rejection } from './fixtures';
import type { Pushed } from './fixtures';

const fast = { backoffMs: 5, retries: 2 };

test('anonymous registry', async (t) => {
  const reg: Registry = await startRegistry({ auth: 'none' });
  t.after(() => reg.stop());
  const px: Pushed = await pushMiniWeb(reg, 'ns/mini-web:v1');
  const repo = openRepository({ registry: reg.host, repository: 'ns/mini-web' }, fast);

  await t.test('manifest by tag: the pushed bytes, media type and digest', async () => {
    const m = await repo.manifest('v1');
    assert.equal(m.digest, px.image.manifestDigest);
    assert.equal(m.mediaType, MediaType.OciManifest);
    assert.deepEqual(m.body, px.manifestBody);
    assert.equal(m.size, px.manifestBody.length);
  });

  await t.test('manifest by digest', async () => {
    const m = await repo.manifest(px.image.manifestDigest);
    assert.equal(m.digest, px.image.manifestDigest);
    assert.deepEqual(m.body, px.manifestBody);
  });

  await t.test('every blob streams the exact bytes with its size', async () => {
    for (const d of [px.image.configDigest, ...px.image.manifest.layers.map((l) => l.digest)]) {
      const b = await repo.blob(d);
      assert.equal(b.offset, 0);
      const bytes = await readAll(b.stream);
      assert.equal(sha256(bytes), d);
      assert.equal(b.size, bytes.length);
    }
  });

  await t.test('Range resume serves the rest of the blob from the offset', async () => {
    const layer = px.image.manifest.layers[1];
    const whole = px.blob(layer.digest);
    const offset = Math.floor(whole.length / 3);
    const b = await repo.blob(layer.digest, { offset });
    assert.equal(b.offset, offset);
    assert.equal(b.size, whole.length);
    const rest = await readAll(b.stream);
    assert.deepEqual(rest, whole.subarray(offset));
  });

  await t.test('an offset at the end of the blob (416) falls back to the whole blob', async () => {
    const d = px.image.configDigest;
    const whole = px.blob(d);
    const b = await repo.blob(d, { offset: whole.length });
    assert.equal(b.offset, 0);
    assert.deepEqual(await readAll(b.stream), whole);
  });

  await t.test('unknown repository, tag and blob are NOT_FOUND naming what was missing', async () => {
    const other = openRepository({ registry: reg.host, repository: 'ns/nothing-here' }, fast);
    const e1 = await rejection(other.manifest('v1'));
    assert.equal(e1.code, 'NOT_FOUND');
    assert.match(e1.message, /manifest ns\/nothing-here:v1 not found on 127\.0\.0\.1:\d+/);
    const e2 = await rejection(repo.manifest('v9'));
    assert.equal(e2.code, 'NOT_FOUND');
    assert.match(e2.message, /manifest ns\/mini-web:v9 not found .*MANIFEST_UNKNOWN/);
    const missing = sha256('not a blob of this repository');
    const e3 = await rejection(repo.blob(missing));
    assert.equal(e3.code, 'NOT_FOUND');
    assert.ok(e3.message.includes(missing), e3.message);
  });

  await t.test('malformed references are refused before any request', async () => {
    assert.equal((await rejection(repo.manifest('sha256:abc'))).code, 'USAGE');
    assert.equal((await rejection(repo.manifest('sha512:' + 'a'.repeat(128)))).code, 'UNSUPPORTED');
    assert.equal((await rejection(repo.blob('md5:' + 'a'.repeat(32)))).code, 'UNSUPPORTED');
  });

  await t.test('a manifest whose stored bytes changed is DIGEST_MISMATCH when fetched by digest', async () => {
    // Same length, still valid JSON: flip one hex digit of the config digest in storage.
    const file = reg.blobDataPath(px.image.manifestDigest);
    const original = fs.readFileSync(file);
    const text = original.toString('utf8');
    const i = text.indexOf(px.image.configDigest) + 'sha256:'.length;
    const flipped = text.slice(0, i) + (text[i] === '0' ? '1' : '0') + text.slice(i + 1);
    fs.writeFileSync(file, flipped);
    try {
      const e = await rejection(repo.manifest(px.image.manifestDigest));
      assert.equal(e.code, 'DIGEST_MISMATCH');
      assert.equal(e.details?.expected, px.image.manifestDigest);
      assert.equal(e.details?.actual, sha256(flipped));
    } finally {
      fs.writeFileSync(file, original);
    }
  });
});

test('nothing listening: NETWORK after exactly `retries` attempts, each trying HTTPS then HTTP', async () => {
  const port = await freePort();
  const lines: string[] = [];
  const repo = openRepository({ registry: `127.0.0.1:${port}`, repository: 'x/y' }, { retries: 3, backoffMs: 5, log: (l) => lines.push(l) });
  const e = await rejection(repo.manifest('v1'));
  assert.equal(e.code, 'NETWORK');
  assert.match(e.message, new RegExp(`cannot reach registry 127\\.0\\.0\\.1:${port}: connection refused`));
  assert.equal(lines.filter((l) => /attempt \d of 3/.test(l)).length, 2, lines.join('\n'));
  assert.equal(lines.filter((l) => /trying plain HTTP/.test(l)).length, 3, lines.join('\n'));
});
