// Bad input for `ocimount pull`, each through the CLI against the real registry:
// exit status, the one-line message, and no temp file, blob or index entry a later
// run would trust. Faults the real registry cannot make on demand (cut bodies)
// come from the fault server; a corrupted blob is written into registry storage.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { miniWeb } from '../../src/dev/image-builder';
import { startFaultServer } from '../../src/dev/fault-server';
import { startRegistry } from '../../src/dev/registry-server';
import { CLI, isRoot, makeTmp } from '../helpers/env';
import { NO_CREDS_ENV, assertFailedCleanly, assertNoLeftovers, blobNames, pullCli, pushImage, slowProxy, tagsOf } from './helpers';

/** An image with one incompressible layer of `bytes` (random data, stored uncompressed). */
function bigImage(bytes: number) {
  return { layers: [{ compression: 'none' as const, entries: [{ type: 'file' as const, path: 'big.bin', content: randomBytes(bytes), mode: 0o644 }] }] };
}

test('pull: bad input, each with one message and nothing left behind', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const mini = await pushImage(reg, miniWeb(), 'mini-web:v1');
  const big = await pushImage(reg, bigImage(2_000_000), 'big:v1');
  const bigLayer = big.manifest.layers[0].digest;

  await t.test('a malformed reference is a usage error (exit 2)', async () => {
    const dir = path.join(makeTmp('pull-bad-ref'), 'l');
    const r = await pullCli(['Not A Ref', dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^ocimount: invalid image reference "Not A Ref": it contains whitespace\n$/);
    assert.equal(fs.existsSync(dir), false);
  });

  await t.test('unknown repository and unknown tag', async () => {
    const base = makeTmp('pull-unknown');
    const r1 = await pullCli([`${reg.host}/no-such-repo:v1`, path.join(base, 'a')]);
    assertFailedCleanly(r1, path.join(base, 'a'), /^ocimount: manifest no-such-repo:v1 not found on 127\.0\.0\.1:\d+ \((NAME|MANIFEST)_UNKNOWN\)$/);
    const r2 = await pullCli([`${reg.host}/mini-web:v9`, path.join(base, 'b')]);
    assertFailedCleanly(r2, path.join(base, 'b'), /^ocimount: manifest mini-web:v9 not found on 127\.0\.0\.1:\d+ \(MANIFEST_UNKNOWN\)$/);
    // Directories the failed pulls would have created are not left behind as empty layouts.
    assert.deepEqual(fs.readdirSync(base), []);
    // An existing empty directory is kept (it was there before), as an empty layout.
    fs.mkdirSync(path.join(base, 'c'));
    assertFailedCleanly(await pullCli([`${reg.host}/mini-web:v9`, path.join(base, 'c')]), path.join(base, 'c'), /MANIFEST_UNKNOWN/);
    assert.ok(fs.existsSync(path.join(base, 'c')));
    assert.deepEqual(blobNames(path.join(base, 'c')), []);
  });

  await t.test('a directory that is not a layout is refused and left alone', async () => {
    const dir = makeTmp('pull-notlayout');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine\n');
    const r = await pullCli([`${reg.host}/mini-web:v1`, dir]);
    assertFailedCleanly(r, dir, /^ocimount: .* is not an OCI image layout \(no oci-layout file, and it is not empty\); pull into a new or empty directory$/);
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
  });

  await t.test('a corrupted blob in registry storage: DIGEST_MISMATCH, the blob is not kept, no index entry', async () => {
    const layer = mini.manifest.layers[1].digest;
    const file = reg.blobDataPath(layer);
    const good = fs.readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length >> 1] ^= 0xff;
    fs.writeFileSync(file, bad);
    const dir = path.join(makeTmp('pull-corrupt'), 'l');
    try {
      const r = await pullCli([`${reg.host}/mini-web:v1`, dir]);
      assertFailedCleanly(r, dir, new RegExp(`^ocimount: blob ${layer} arrived with digest sha256:[0-9a-f]{64}: the registry served different bytes$`));
      assert.ok(!blobNames(dir).includes(layer.slice(7)));
      assert.ok(!blobNames(dir).includes(mini.manifestDigest.slice(7)), 'the manifest is written only after its blobs');
    } finally {
      fs.writeFileSync(file, good);
    }
    // Repaired registry: the same layout completes.
    const again = await pullCli(['-q', `${reg.host}/mini-web:v1`, dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest });
  });

  await t.test('a body cut off every time: TRUNCATED after the resumes, temp file removed', async () => {
    const fault = await startFaultServer(reg, [{ method: 'GET', path: new RegExp(`/blobs/${bigLayer}`), times: Infinity, action: { kind: 'truncate', afterBytes: 50_000 } }]);
    try {
      const dir = path.join(makeTmp('pull-trunc'), 'l');
      const r = await pullCli([`${fault.host}/big:v1`, dir]);
      assertFailedCleanly(r, dir, new RegExp(`^ocimount: blob ${bigLayer} (was cut off|ended) after \\d+ of 2001\\d+ bytes`));
      assert.ok(fault.requests.filter((q) => q.path.includes(bigLayer) && q.headers.range).length >= 1, 'resumes were tried');
      assert.ok(!blobNames(dir).includes(bigLayer.slice(7)));
    } finally {
      await fault.stop();
    }
  });

  await t.test('registry down: one NETWORK line, nothing written', async () => {
    const gone = await startRegistry();
    const host = gone.host;
    await gone.stop();
    const dir = path.join(makeTmp('pull-down'), 'l');
    const r = await pullCli([`${host}/mini-web:v1`, dir]);
    assertFailedCleanly(r, dir, new RegExp(`^ocimount: .*${host.replace(/\./g, '\\.')}.*(refused|ECONNREFUSED|not reachable|cannot connect)`, 'i'));
  });

  await t.test('disk full (a small tmpfs): NO_SPACE, temp file removed, no index entry', { skip: isRoot ? false : 'mounting a tmpfs needs root' }, async () => {
    const mnt = path.join(makeTmp('pull-full'), 'small');
    fs.mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    try {
      const dir = path.join(mnt, 'l');
      const r = await pullCli([`${reg.host}/big:v1`, dir]);
      assertFailedCleanly(r, dir, /^ocimount: no space left on the device writing sha256:[0-9a-f]{64} into /);
      assert.ok(!blobNames(dir).includes(bigLayer.slice(7)));
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  await t.test('Ctrl-C (SIGINT) mid-download: exit 130, temp files removed, no index entry', async () => {
    const slow = await slowProxy(reg);
    try {
      const dir = path.join(makeTmp('pull-sigint'), 'l');
      const child = spawn(process.execPath, [CLI, 'pull', `${slow.host}/big:v1`, dir], { env: { ...process.env, ...NO_CREDS_ENV, HOME: '/nonexistent' } as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const deadline = Date.now() + 30_000;
      while (!blobNames(dir).some((n) => n.startsWith('.tmp-')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(blobNames(dir).some((n) => n.startsWith('.tmp-')), 'a download was in flight');
      process.kill(child.pid!, 'SIGINT');
      const code = await closed;
      assert.equal(code, 130, stderr);
      assert.match(stderr, /^ocimount: pull interrupted; temporary files removed$/m);
      // The layout this pull created goes too when nothing verified was kept in it.
      if (fs.existsSync(dir)) {
        assert.deepEqual(tagsOf(dir), {});
        assertNoLeftovers(dir);
        assert.ok(blobNames(dir).length > 0, 'a kept layout holds verified blobs');
        assert.ok(!blobNames(dir).includes(bigLayer.slice(7)));
      }
    } finally {
      await slow.stop();
    }
  });
});
