// HTTPS registries: trusted through an extra CA, refused clearly when the
// certificate is not trusted, accepted unverified only when insecure.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { startRegistry } from '../../src/dev/registry-server';
import { openRepository } from '../../src/registry';
import { pushMiniWeb, rejection } from './fixtures';

const fast = { backoffMs: 5, retries: 2 };

test('TLS registry with a self-signed CA', async (t) => {
  const reg = await startRegistry({ auth: 'basic', users: { bob: 'tls-pass' }, tls: true });
  t.after(() => reg.stop());
  const px = await pushMiniWeb(reg, 'sec/app:v1');
  const keychain = { resolve: async () => ({ kind: 'basic' as const, username: 'bob', password: 'tls-pass' }) };

  await t.test('trusted through opts.ca', async () => {
    const repo = openRepository({ registry: reg.host, repository: 'sec/app' }, { ...fast, keychain, ca: fs.readFileSync(reg.caFile!) });
    assert.equal((await repo.manifest('v1')).digest, px.image.manifestDigest);
  });

  await t.test('untrusted certificate: a clear NETWORK error, no fall back to plain HTTP', async () => {
    const lines: string[] = [];
    const repo = openRepository({ registry: reg.host, repository: 'sec/app' }, { ...fast, keychain, log: (l) => lines.push(l) });
    const e = await rejection(repo.manifest('v1'));
    assert.equal(e.code, 'NETWORK');
    assert.match(e.message, /TLS certificate of 127\.0\.0\.1:\d+ is not trusted .*--insecure/);
    assert.equal(e.details?.permanent, true);
    assert.deepEqual(lines.filter((l) => /plain HTTP|attempt/.test(l)), [], 'neither retried nor downgraded');
  });

  await t.test('insecure: works without the CA', async () => {
    const repo = openRepository({ registry: reg.host, repository: 'sec/app' }, { ...fast, keychain, insecure: true });
    assert.equal((await repo.manifest('v1')).digest, px.image.manifestDigest);
  });
});
