// `ocimount pull` against Debian's real registry: the scenario image read back by
// skopeo and umoci, every layer media type, platform choice from an index, tags
// in index.json, no second download, resume after a cut body, pull by digest,
// and `up`'s store pull feeding unpack.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MINI_WEB_ANSWERS, miniWeb, writeIndexImage } from '../../src/dev/image-builder';
import type { ImageSpec } from '../../src/dev/image-builder';
import { startFaultServer } from '../../src/dev/fault-server';
import { startRegistry } from '../../src/dev/registry-server';
import { MediaType, REF_NAME_ANNOTATION } from '../../src/image/types';
import { pullToStore } from '../../src/up/source';
import { pull } from '../../src/pull';
import { anonymous } from '../../src/auth';
import { unpack } from '../../src/unpack';
import { CLI, UNPRIV_UID, isRoot, makeTmp, makeUserTmp, ocimount, run } from '../helpers/env';
import { NO_CREDS_ENV, assertFailedCleanly, assertNoLeftovers, blobNames, pullCli, pushImage, readIndexJson, sh, slowProxy, tagsOf } from './helpers';

function variant(tagText: string): ImageSpec {
  const spec = miniWeb();
  spec.layers = [...spec.layers, { entries: [{ type: 'file', path: 'app/variant.txt', content: `${tagText}\n`, mode: 0o644 }] }];
  return spec;
}

test('pull through the CLI against the real registry', async (t) => {
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const mini = await pushImage(reg, miniWeb(), 'mini-web:v1');

  await t.test('the scenario: pull, then skopeo inspect, umoci ls and umoci unpack read it', async () => {
    const dir = path.join(makeTmp('pull-scenario'), 'mini-web');
    const r = await pullCli([`${reg.host}/mini-web:v1`, dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${dir}:v1 ${mini.manifestDigest}\n`);
    // Not a TTY: one line per blob (config, 3 layers, manifest).
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 5, r.stderr);
    for (const l of mini.manifest.layers) assert.ok(lines.some((x) => x.startsWith('layer') && x.includes(l.digest.slice(7, 19)) && /done/.test(x)), r.stderr);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest });
    assert.equal(readIndexJson(dir).manifests[0].mediaType, MediaType.OciManifest);
    assertNoLeftovers(dir);
    assert.deepEqual(blobNames(dir), [mini.manifestDigest, mini.configDigest, ...mini.manifest.layers.map((l) => l.digest)].map((d) => d.slice(7)).sort());

    const inspect = JSON.parse(sh(['skopeo', 'inspect', `oci:${dir}:v1`]));
    assert.equal(inspect.Digest, mini.manifestDigest);
    assert.deepEqual(inspect.Layers, mini.manifest.layers.map((l) => l.digest));
    assert.ok(sh(['umoci', 'ls', '--layout', dir]).split('\n').includes('v1'));
    const bundle = path.join(path.dirname(dir), 'bundle');
    sh(['umoci', 'unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${dir}:v1`, bundle]);
    assert.equal(fs.readFileSync(path.join(bundle, 'rootfs/app/version.txt'), 'utf8').trim(), MINI_WEB_ANSWERS.version);
    assert.deepEqual(fs.readdirSync(path.join(bundle, 'rootfs')).sort(), [...MINI_WEB_ANSWERS.topLevel]);

    // --quiet: the result only.
    const q = await pullCli(['--quiet', `${reg.host}/mini-web:v1`, dir]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stderr, '');
    assert.equal(q.stdout, `${dir}:v1 ${mini.manifestDigest}\n`);
  });

  await t.test('zstd, uncompressed and Docker schema2 images: pulled, read by skopeo, unpacked by ocimount', async () => {
    const base = makeTmp('pull-types');
    const dir = path.join(base, 'l');
    for (const [tag, compression, layerType] of [
      ['zstd', 'zstd', MediaType.OciLayerZstd],
      ['plain', 'none', MediaType.OciLayer],
    ] as const) {
      const img = await pushImage(reg, miniWeb(compression), `types:${tag}`);
      const r = await pullCli(['-q', `${reg.host}/types:${tag}`, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(tagsOf(dir)[tag], img.manifestDigest);
      assert.equal(img.manifest.layers[0].mediaType, layerType);
      assert.equal(JSON.parse(sh(['skopeo', 'inspect', `oci:${dir}:${tag}`])).Digest, img.manifestDigest);
    }
    // Docker schema2 in the registry (skopeo converts the OCI fixture on push); the layout gets
    // the OCI form, as `skopeo copy docker://… oci:…` makes it, because peers read only OCI there.
    const src = await pushImage(reg, miniWeb(), 'types:oci-src');
    sh(['skopeo', 'copy', '--quiet', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${src.layout}:t`, `docker://${reg.host}/types:docker`]);
    const raw = JSON.parse(sh(['skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/types:docker`]));
    assert.equal(raw.mediaType, MediaType.DockerManifest);
    assert.equal(raw.layers[0].mediaType, MediaType.DockerLayerGzip);
    const r = await pullCli(['-q', `${reg.host}/types:docker`, dir]);
    assert.equal(r.code, 0, r.stderr);
    const entry = readIndexJson(dir).manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === 'docker')!;
    assert.equal(entry.mediaType, MediaType.OciManifest);
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'blobs', 'sha256', entry.digest.slice(7)), 'utf8'));
    assert.equal(m.mediaType, MediaType.OciManifest);
    assert.deepEqual(m.layers.map((l: { digest: string }) => l.digest), raw.layers.map((l: { digest: string }) => l.digest));
    assert.deepEqual([m.config.mediaType, ...m.layers.map((l: { mediaType: string }) => l.mediaType)], [MediaType.OciConfig, ...raw.layers.map(() => MediaType.OciLayerGzip)]);
    assert.equal(JSON.parse(sh(['skopeo', 'inspect', `oci:${dir}:docker`])).Digest, entry.digest);
    assert.ok(sh(['umoci', 'ls', '--layout', dir]).split('\n').includes('docker'));

    for (const tag of ['zstd', 'plain', 'docker']) {
      const layers = path.join(base, `layers-${tag}`);
      const u = await ocimount(['unpack', '-q', `${dir}:${tag}`, layers]);
      assert.equal(u.code, 0, u.stderr);
      assert.equal(fs.readFileSync(path.join(layers, '2', 'app', 'version.txt'), 'utf8').trim(), '1.0.1');
    }
    assert.deepEqual(Object.keys(tagsOf(dir)).sort(), ['docker', 'plain', 'zstd']);
    assertNoLeftovers(dir);
  });

  await t.test('a single-manifest image: --platform must match its config', async () => {
    const base = makeTmp('pull-single-platform');
    const bad = await pullCli(['-q', '--platform', 'linux/arm64', `${reg.host}/mini-web:v1`, path.join(base, 'a')]);
    assertFailedCleanly(bad, path.join(base, 'a'), /^ocimount: .*mini-web:v1 is a single-platform image for linux\/amd64, not linux\/arm64$/);
    const ok = await pullCli(['-q', '--platform', 'linux/amd64', `${reg.host}/mini-web:v1`, path.join(base, 'b')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(Object.keys(tagsOf(path.join(base, 'b'))), ['v1']);
    assert.equal(blobNames(path.join(base, 'b')).length, 5);
  });

  await t.test('multi-platform index: host default, --platform linux/arm64, --all-platforms, a missing platform listed', async () => {
    const base = makeTmp('pull-multi');
    const src = path.join(base, 'src');
    const idx = writeIndexImage(
      src,
      [
        { spec: variant('amd64'), platform: { os: 'linux', architecture: 'amd64' } },
        { spec: variant('arm64'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
      { tag: 'v1' },
    );
    await reg.push(src, 'v1', 'multi:v1');
    const [amd, arm] = idx.images;

    const one = path.join(base, 'one');
    const r1 = await pullCli(['-q', `${reg.host}/multi:v1`, one]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.deepEqual(tagsOf(one), { v1: amd.manifestDigest });
    assert.equal(readIndexJson(one).manifests[0].platform?.architecture, 'amd64');
    assert.ok(!blobNames(one).includes(arm.configDigest.slice(7)));

    const r2 = await pullCli(['-q', '--platform', 'linux/arm64', `${reg.host}/multi:v1`, one]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(r2.stdout, `${one}:v1 ${arm.manifestDigest}\n`);
    assert.deepEqual(tagsOf(one), { v1: arm.manifestDigest }, 'same tag replaces');
    const layers = path.join(base, 'arm-layers');
    const u = await ocimount(['unpack', '-q', `${one}:v1`, layers]);
    assert.equal(u.code, 0, u.stderr);
    assert.equal(fs.readFileSync(path.join(layers, '3', 'app', 'variant.txt'), 'utf8'), 'arm64\n');
    assertNoLeftovers(one);

    const all = path.join(base, 'all');
    const r3 = await pullCli(['-q', '--all-platforms', `${reg.host}/multi:v1`, all]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.equal(r3.stdout, `${all}:v1 ${idx.indexDigest}\n`);
    assert.deepEqual(tagsOf(all), { v1: idx.indexDigest });
    assert.equal(readIndexJson(all).manifests[0].mediaType, MediaType.OciIndex);
    for (const img of idx.images) {
      for (const d of [img.manifestDigest, img.configDigest, ...img.manifest.layers.map((l) => l.digest)]) assert.ok(blobNames(all).includes(d.slice(7)), d);
    }
    assert.equal(JSON.parse(sh(['skopeo', 'inspect', '--raw', `oci:${all}:v1`])).manifests.length, 2);
    // unpack picks from the kept index.
    const u2 = await ocimount(['unpack', '-q', '--platform', 'linux/arm64', `${all}:v1`, path.join(base, 'all-arm')]);
    assert.equal(u2.code, 0, u2.stderr);
    assert.equal(fs.readFileSync(path.join(base, 'all-arm', '3', 'app', 'variant.txt'), 'utf8'), 'arm64\n');

    // The same index pushed as a Docker manifest list: kept whole in OCI form, children converted too.
    sh(['skopeo', 'copy', '--quiet', '--all', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${reg.host}/multi:docker`]);
    assert.equal(JSON.parse(sh(['skopeo', 'inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/multi:docker`])).mediaType, MediaType.DockerManifestList);
    const r6 = await pullCli(['-q', '--all-platforms', `${reg.host}/multi:docker`, all]);
    assert.equal(r6.code, 0, r6.stderr);
    const list = JSON.parse(sh(['skopeo', 'inspect', '--raw', `oci:${all}:docker`]));
    assert.equal(list.mediaType, MediaType.OciIndex);
    assert.deepEqual(list.manifests.map((m: { mediaType: string }) => m.mediaType), [MediaType.OciManifest, MediaType.OciManifest]);
    const u3 = await ocimount(['unpack', '-q', '--platform', 'linux/arm64', `${all}:docker`, path.join(base, 'docker-arm')]);
    assert.equal(u3.code, 0, u3.stderr);
    assert.equal(fs.readFileSync(path.join(base, 'docker-arm', '3', 'app', 'variant.txt'), 'utf8'), 'arm64\n');
    assert.ok(sh(['umoci', 'ls', '--layout', all]).split('\n').includes('docker'));
    assertNoLeftovers(all);

    const none = path.join(base, 'none');
    const r4 = await pullCli(['--platform', 'linux/s390x', `${reg.host}/multi:v1`, none]);
    assertFailedCleanly(r4, none, /^ocimount: no image for platform linux\/s390x in the index; it has: linux\/amd64, linux\/arm64\/v8$/);
    assert.deepEqual(blobNames(none), []);
    // A malformed platform is a usage error.
    const r5 = await pullCli(['--platform', 'linux', `${reg.host}/multi:v1`, none]);
    assert.equal(r5.code, 2, r5.stderr);
    assert.match(r5.stderr, /invalid platform "linux"/);
  });

  await t.test('tags: a second tag adds an entry, the same tag replaces it; pull by digest adds an untagged entry', async () => {
    const base = makeTmp('pull-tags');
    const dir = path.join(base, 'l');
    const v2 = await pushImage(reg, variant('two'), 'mini-web:v2');
    assert.equal((await pullCli(['-q', `${reg.host}/mini-web:v1`, dir])).code, 0);
    assert.equal((await pullCli(['-q', `${reg.host}/mini-web:v2`, dir])).code, 0);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest, v2: v2.manifestDigest });
    assert.equal((await pullCli(['-q', `${reg.host}/mini-web:v1`, dir])).code, 0);
    assert.equal(readIndexJson(dir).manifests.length, 2);
    // The tag moves in the registry; re-pulling replaces the entry.
    const moved = await pushImage(reg, variant('moved'), 'mini-web:v2');
    assert.equal((await pullCli(['-q', `${reg.host}/mini-web:v2`, dir])).code, 0);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest, v2: moved.manifestDigest });

    const byDigest = await pullCli(['-q', `${reg.host}/mini-web@${v2.manifestDigest}`, dir]);
    assert.equal(byDigest.code, 0, byDigest.stderr);
    assert.equal(byDigest.stdout, `${dir}@${v2.manifestDigest} ${v2.manifestDigest}\n`);
    const untagged = readIndexJson(dir).manifests.filter((m) => !m.annotations?.[REF_NAME_ANNOTATION]);
    assert.deepEqual(untagged.map((m) => m.digest), [v2.manifestDigest]);
    assert.equal((await pullCli(['-q', `${reg.host}/mini-web@${v2.manifestDigest}`, dir])).code, 0);
    assert.equal(readIndexJson(dir).manifests.length, 3, 'no duplicate untagged entry');
    assert.equal(JSON.parse(sh(['skopeo', 'inspect', `oci:${dir}:v2`])).Digest, moved.manifestDigest);
    assertNoLeftovers(dir);
  });

  await t.test('blobs already present are not downloaded again (registry requests counted)', async () => {
    const fault = await startFaultServer(reg);
    t.after(() => fault.stop());
    const dir = path.join(makeTmp('pull-again'), 'l');
    assert.equal((await pullCli(['-q', `${fault.host}/mini-web:v1`, dir])).code, 0);
    const blobGets = (): string[] => fault.requests.filter((q) => q.method === 'GET' && q.path.includes('/blobs/')).map((q) => q.path);
    assert.equal(blobGets().length, 4);
    const mtimes = blobNames(dir).map((n) => fs.statSync(path.join(dir, 'blobs', 'sha256', n)).mtimeMs);
    fault.requests.length = 0;
    const r = await pullCli([`${fault.host}/mini-web:v1`, dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(blobGets(), []);
    assert.equal(r.stderr.trim().split('\n').filter((l) => /already present/.test(l)).length, 5, r.stderr);
    assert.deepEqual(blobNames(dir).map((n) => fs.statSync(path.join(dir, 'blobs', 'sha256', n)).mtimeMs), mtimes);
  });

  await t.test('a body cut off mid-way is resumed with a Range request', async () => {
    const big = await pushImage(
      reg,
      { layers: [{ compression: 'none', entries: [{ type: 'file', path: 'big.bin', content: Buffer.alloc(300_000, 7), mode: 0o644 }] }] },
      'resume:v1',
    );
    const layer = big.manifest.layers[0].digest;
    const fault = await startFaultServer(reg, [{ method: 'GET', path: new RegExp(`/blobs/${layer}`), times: 1, action: { kind: 'truncate', afterBytes: 100_000 } }]);
    t.after(() => fault.stop());
    const dir = path.join(makeTmp('pull-resume'), 'l');
    const r = await pullCli([`${fault.host}/resume:v1`, dir]);
    assert.equal(r.code, 0, r.stderr);
    const gets = fault.requests.filter((q) => q.path.includes(layer));
    assert.equal(gets[0].fault, 'truncate');
    const ranged = gets.slice(1).map((q) => q.headers.range);
    assert.ok(ranged.length >= 1 && ranged.every((h) => /^bytes=\d+-$/.test(String(h))) && Number(/\d+/.exec(String(ranged.at(-1)))![0]) > 0, JSON.stringify(ranged));
    assert.match(r.stderr, /resumed 1x/);
    assert.deepEqual(tagsOf(dir), { v1: big.manifestDigest });
    assertNoLeftovers(dir);
  });

  await t.test('through a CDN redirect and past a 503 and a 429: the pull completes', async () => {
    const fault = await startFaultServer(reg, [
      { method: 'GET', path: /\/manifests\/v1$/, times: 1, action: { kind: 'status', status: 503 } },
      { method: 'GET', path: new RegExp(`/blobs/${mini.configDigest}`), times: 1, action: { kind: 'status', status: 429, headers: { 'retry-after': '0' } } },
      { method: 'GET', path: /\/blobs\/sha256:/, times: Infinity, action: { kind: 'redirect' } },
    ]);
    t.after(() => fault.stop());
    const dir = path.join(makeTmp('pull-redirect'), 'l');
    const r = await pullCli(['-q', `${fault.host}/mini-web:v1`, dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest });
    const cdn = fault.requests.filter((q) => q.listener === 'redirect');
    assert.equal(new Set(cdn.map((q) => q.path.replace(/\?.*/, ''))).size, 4, JSON.stringify(cdn.map((q) => q.path)));
    assert.ok(fault.requests.some((q) => q.fault === 'status'));
    assertNoLeftovers(dir);
  });

  await t.test('on a terminal: a live line per blob with bytes and rate on stderr', async () => {
    const dir = path.join(makeTmp('pull-tty'), 'l');
    const out = path.join(path.dirname(dir), 'typescript');
    // script(1) gives the CLI a pseudo-terminal; what it drew lands in the typescript file.
    const cmd = `${process.execPath} ${CLI} pull ${reg.host}/mini-web:v1 ${dir} 2>&1 >/dev/null`;
    const r = await run(['script', '-qec', cmd, out], { env: { ...NO_CREDS_ENV } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const drawn = fs.readFileSync(out, 'latin1');
    assert.match(drawn, /\x1b\[\d+A/, 'redraws by moving the cursor up');
    for (const l of mini.manifest.layers) assert.ok(drawn.includes(l.digest.slice(7, 19)), drawn);
    assert.match(drawn, /done in [\d.]+s [\d.]+ (B|kB|MB)\/s/);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest });
  });

  await t.test('layers download concurrently, at most `concurrency` at once; a dead run\'s temp file is swept', async () => {
    const spec: ImageSpec = {
      layers: Array.from({ length: 5 }, (_, i) => ({ compression: 'none' as const, entries: [{ type: 'file' as const, path: `l${i}.bin`, content: randomBytes(150_000), mode: 0o644 }] })),
    };
    const img = await pushImage(reg, spec, 'five:v1');
    const slow = await slowProxy(reg, 500);
    t.after(() => slow.stop());
    for (const concurrency of [1, 3]) {
      const dir = path.join(makeTmp(`pull-conc${concurrency}`), 'l');
      fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      fs.writeFileSync(path.join(dir, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
      const dead = spawnSync('true').pid!;
      const stale = path.join(dir, 'blobs', 'sha256', `.tmp-0123456789ab-${dead}-deadbeef`);
      fs.writeFileSync(stale, 'half a blob');
      let inFlight = 0;
      let most = 0;
      const res = await pull(`${slow.host}/five:v1`, dir, {
        concurrency,
        keychain: anonymous,
        onProgress: (p) => {
          if (p.kind !== 'layer') return;
          if (p.phase === 'start') most = Math.max(most, ++inFlight);
          if (p.phase === 'done' || p.phase === 'skipped') inFlight--;
        },
      });
      assert.equal(res.manifestDigest, img.manifestDigest);
      assert.equal(most, concurrency);
      assert.equal(fs.existsSync(stale), false);
      assertNoLeftovers(dir);
    }
  });

  await t.test('two pulls into one layout at the same time: both tags, nothing lost or left', async () => {
    const dir = path.join(makeTmp('pull-twice'), 'l');
    const v2 = await pushImage(reg, variant('two'), 'mini-web:two');
    const [a, b] = await Promise.all([pullCli(['-q', `${reg.host}/mini-web:v1`, dir]), pullCli(['-q', `${reg.host}/mini-web:two`, dir])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest, two: v2.manifestDigest });
    assertNoLeftovers(dir);
  });

  await t.test('as an unprivileged user into a directory of its own', { skip: isRoot ? false : 'setpriv needs root' }, async () => {
    const dir = path.join(makeUserTmp('pull-user'), 'l');
    const r = await ocimount(['pull', '-q', `${reg.host}/mini-web:v1`, dir], { unprivileged: true, env: { ...NO_CREDS_ENV } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(path.join(dir, 'index.json')).uid, UNPRIV_UID);
    assert.deepEqual(tagsOf(dir), { v1: mini.manifestDigest });
    assertNoLeftovers(dir);
  });

  await t.test("up's store: pullToStore pulls into the store and unpack reads STORE@DIGEST", async () => {
    const base = makeTmp('pull-store');
    const store = path.join(base, 'store');
    const s = await pullToStore(`${reg.host}/mini-web:v1`, store);
    assert.deepEqual(s, { layoutRef: `${store}@${mini.manifestDigest}`, manifestDigest: mini.manifestDigest, pulled: true });
    assert.deepEqual(tagsOf(store), { [`${reg.host}/mini-web:v1`]: mini.manifestDigest });
    const res = await unpack(s.layoutRef, path.join(base, 'layers'));
    assert.equal(res.record.layers.length, 3);
    assert.equal(fs.readFileSync(path.join(base, 'layers', '2', 'app', 'version.txt'), 'utf8').trim(), '1.0.1');
    // The local oci: form still reads a layout in place.
    const local = await pullToStore(`oci:${store}@${mini.manifestDigest}`, path.join(base, 'unused'));
    assert.equal(local.pulled, false);
    assert.equal(local.manifestDigest, mini.manifestDigest);
  });
});
