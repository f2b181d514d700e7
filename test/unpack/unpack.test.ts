// unpack end to end on layouts built in code: the scenario, every compression
// and media type, verification failures leaving nothing behind, idempotence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { MINI_WEB_ANSWERS, miniWeb, writeImage, writeIndexImage } from '../../src/dev/image-builder';
import type { ImageSpec } from '../../src/dev/image-builder';
import { tarBuffer } from '../../src/dev/tar';
import { unpack, unpackLayers, MediaType, isOcimountError } from '../../src/index';
import type { LayerSource, LayerProgress, UnpackWarning } from '../../src/index';
import { readLayersRecord } from '../../src/layers/record';
import { makeTmp, ocimount } from '../helpers/env';
import { WHITEOUT_IMAGE_FILES, mergeOciLayers, viewLines, viewOf, whiteoutImage } from './fixtures';

function layoutWith(spec: ImageSpec, tag = 'v1'): { layout: string; img: ReturnType<typeof writeImage> } {
  const layout = path.join(makeTmp('layout'), 'img');
  return { layout, img: writeImage(layout, spec, { tag }) };
}

function ls(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}

/** LAYERS_DIR holds nothing but what a successful run leaves (no temp dirs). */
function assertNoLeftovers(layersDir: string): void {
  assert.deepEqual(
    ls(layersDir).filter((n) => n.startsWith('.tmp-') || n.includes('.tmp-')),
    [],
  );
}

test('scenario: mini-web:v1 unpacked by the CLI shows what the seed describes', async () => {
  const { layout, img } = layoutWith(miniWeb());
  const layers = path.join(makeTmp('layers'), 'layers');
  const r = await ocimount(['unpack', `${layout}:v1`, layers]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /layer 0 sha256:[0-9a-f]{12} .* unpacked\nlayer 1 .*\nlayer 2 .*\n3 layers in/);
  for (let i = 0; i < 3; i++) assert.deepEqual(ls(path.join(layers, String(i))), [...MINI_WEB_ANSWERS.layerFiles[i]]);
  assert.deepEqual(ls(path.join(layers, '1/app')), ['config.json', 'server.py', 'version.txt']);
  assert.deepEqual(ls(path.join(layers, '2/app')), ['config.json', 'version.txt']);
  assert.equal(fs.readFileSync(path.join(layers, '1/app/version.txt'), 'utf8'), '1.0.0\n');
  assert.equal(fs.readFileSync(path.join(layers, '2/app/version.txt'), 'utf8'), `${MINI_WEB_ANSWERS.version}\n`);
  assert.equal(fs.statSync(path.join(layers, '0/tmp')).mode & 0o7777, 0o1777);
  const rec = readLayersRecord(layers);
  assert.equal(rec.format, 'overlay');
  assert.equal(rec.rootless, false);
  assert.equal(rec.source.manifestDigest, img.manifestDigest);
  assert.equal(rec.source.configDigest, img.configDigest);
  assert.equal(rec.source.ref, 'v1');
  assert.deepEqual(
    rec.layers.map((l) => [l.index, l.digest, l.diffId, l.mediaType, l.size]),
    img.manifest.layers.map((l, i) => [i, l.digest, img.config.rootfs.diff_ids[i], l.mediaType, l.size]),
  );
  // a second run finds every layer done
  const again = await ocimount(['unpack', `${layout}:v1`, layers]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.match(/already unpacked/g)?.length, 3);
});

test('every compression and media type gives the same layer trees', async () => {
  const variants: [string, ImageSpec][] = [
    ['gzip', whiteoutImage('gzip')],
    ['gzip multi-member', { layers: whiteoutImage('gzip').layers.map((l) => ({ ...l, gzipMembers: 4 })) }],
    ['zstd', whiteoutImage('zstd')],
    ['none', whiteoutImage('none')],
    ['docker gzip', { ...whiteoutImage('gzip'), mediaTypes: 'docker' }],
    ['docker zstd', { ...whiteoutImage('zstd'), mediaTypes: 'docker' }],
    ['nondistributable', { layers: whiteoutImage('gzip').layers.map((l) => ({ ...l, mediaType: MediaType.OciLayerNondistributableGzip })) }],
  ];
  let reference: string[][] | undefined;
  for (const [name, spec] of variants) {
    const { layout, img } = layoutWith(spec);
    if (name === 'gzip multi-member') {
      // really several members: count gzip headers at member starts by inflating member by member
      const blob = fs.readFileSync(path.join(layout, 'blobs/sha256', img.manifest.layers[0].digest.slice(7)));
      assert.ok(zlib.gunzipSync(blob).length > 0);
      assert.ok(blob.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), 10) > 0, 'a second gzip member');
    }
    const layers = path.join(makeTmp('layers'), 'L');
    const warnings: UnpackWarning[] = [];
    await unpack(`${layout}:v1`, layers, { format: 'oci', onWarning: (w) => warnings.push(w) });
    assert.deepEqual(warnings, [], name);
    const trees = [0, 1, 2].map((i) => viewLines(viewOf(path.join(layers, String(i)))));
    if (!reference) reference = trees;
    else assert.deepEqual(trees, reference, name);
    const merged = mergeOciLayers([0, 1, 2].map((i) => path.join(layers, String(i))));
    for (const [p, content] of Object.entries(WHITEOUT_IMAGE_FILES)) {
      assert.ok(merged.get(p)?.startsWith('file '), `${name}: ${p}`);
      assert.equal(fs.readFileSync(path.join(layers, p === 'dup' || p === 'readd.txt' || p === 'd3/newchild' ? '2' : /^(a\/y|bin|ro|xattr)/.test(p) ? '0' : '1', p), 'utf8'), content);
    }
  }
});

test('media type and bytes disagreeing: the bytes win, with a warning', async () => {
  const spec: ImageSpec = { layers: [{ entries: [{ type: 'file', path: 'f', content: 'plain' }], compression: 'none', mediaType: MediaType.OciLayerGzip }] };
  const { layout } = layoutWith(spec);
  const layers = path.join(makeTmp('layers'), 'L');
  const warnings: UnpackWarning[] = [];
  await unpack(layout, layers, { onWarning: (w) => warnings.push(w) });
  assert.equal(fs.readFileSync(path.join(layers, '0/f'), 'utf8'), 'plain');
  assert.deepEqual(
    warnings.map((w) => w.code),
    ['COMPRESSION_MISMATCH'],
  );
});

test('an unknown layer media type is UNSUPPORTED', async () => {
  const { layout } = layoutWith({ layers: [{ entries: [], compression: 'none', mediaType: 'application/vnd.example.layer.v1.tar+lz4' }] });
  const layers = path.join(makeTmp('layers'), 'L');
  const r = await ocimount(['unpack', layout, layers]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ocimount: unsupported layer media type "application\/vnd.example.layer.v1.tar\+lz4"\n$/);
  assert.ok(!fs.existsSync(path.join(layers, '0')));
  assertNoLeftovers(layers);
});

/** A layer source over an in-memory blob, with overridable descriptor fields. */
function memSource(blob: Buffer, tar: Buffer, over: Partial<{ digest: string; size: number; diffId: string; mediaType: string }> = {}): LayerSource {
  const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
  return {
    descriptor: { mediaType: over.mediaType ?? MediaType.OciLayerGzip, digest: over.digest ?? sha(blob), size: over.size ?? blob.length },
    diffId: over.diffId ?? sha(tar),
    open: () => Readable.from([blob.subarray(0, 7), blob.subarray(7)]),
  };
}

const SOURCE = { layout: 'test', manifestDigest: 'sha256:' + '0'.repeat(64), configDigest: 'sha256:' + '1'.repeat(64) };

test('blob digest, size and diff_id mismatches and truncated streams fail that layer and leave nothing behind', async () => {
  const tar = tarBuffer([{ type: 'file', path: 'big', content: Buffer.alloc(200_000, 7) }, { type: 'file', path: 'small', content: 's' }]);
  const gz = zlib.gzipSync(tar);
  const good = memSource(gz, tar);
  const cases: [string, LayerSource, string, RegExp][] = [
    ['digest', memSource(gz, tar, { digest: 'sha256:' + 'ab'.repeat(32) }), 'DIGEST_MISMATCH', /layer 1: blob content is sha256:[0-9a-f]{64}, the manifest says sha256:abab/],
    ['size', memSource(gz, tar, { size: gz.length + 1 }), 'SIZE_MISMATCH', /the manifest says \d+/],
    ['diff_id', memSource(gz, tar, { diffId: 'sha256:' + 'cd'.repeat(32) }), 'DIGEST_MISMATCH', /diff_id says sha256:cdcd/],
    // consistent descriptor, but the gzip stream itself ends early
    ['truncated gzip', memSource(gz.subarray(0, gz.length - 100), tar), 'TRUNCATED', /gzip stream ends unexpectedly/],
    // a plain tar cut in the middle of an entry
    ['truncated tar', memSource(tar.subarray(0, 100_000), tar, { mediaType: MediaType.OciLayer }), 'TRUNCATED', /tar stream ends unexpectedly in entry "big"/],
    // corrupted in flight: reported as the digest mismatch it is, not as a zlib error
    ['corrupt blob', { ...good, open: () => Readable.from([Buffer.concat([gz.subarray(0, 50), Buffer.from('garbage'), gz.subarray(57)])]) }, 'DIGEST_MISMATCH', /blob content is/],
    ['unknown algorithm', memSource(gz, tar, { digest: 'md5:' + 'ab'.repeat(16) }), 'UNSUPPORTED', /unsupported digest algorithm/],
  ];
  for (const [name, bad, code, msg] of cases) {
    const layers = path.join(makeTmp('layers'), 'L');
    await assert.rejects(
      unpackLayers([good, bad], layers, { source: SOURCE }),
      (e: unknown) => isOcimountError(e) && e.code === code && msg.test(e.message),
      name,
    );
    assert.ok(fs.existsSync(path.join(layers, '0/big')), `${name}: the good layer stays`);
    assert.ok(!fs.existsSync(path.join(layers, '1')), `${name}: nothing of the bad layer`);
    assertNoLeftovers(layers);
    assert.ok(!fs.existsSync(path.join(layers, 'layers.json')), `${name}: no record of a failed unpack`);
  }
});

test('progress reports every layer from start to done', async () => {
  const { layout, img } = layoutWith(miniWeb());
  const events: LayerProgress[] = [];
  await unpack(`${layout}:v1`, path.join(makeTmp('layers'), 'L'), { onProgress: (p) => events.push(p) });
  for (let i = 0; i < 3; i++) {
    const mine = events.filter((e) => e.layer === i);
    assert.equal(mine[0].phase, 'start');
    assert.equal(mine.at(-1)!.phase, 'done');
    assert.equal(mine.at(-1)!.bytes, img.manifest.layers[i].size);
    assert.ok(mine.some((e) => e.phase === 'progress' && e.bytes === img.manifest.layers[i].size));
  }
});

test('re-unpacking a different image into the same directory replaces changed layers and drops extra ones', async () => {
  const layers = path.join(makeTmp('layers'), 'L');
  const { layout: a } = layoutWith(whiteoutImage());
  const first = await unpack(`${a}:v1`, layers, { format: 'oci' });
  assert.deepEqual(first.extracted, [0, 1, 2]);
  const spec = whiteoutImage();
  const two: ImageSpec = { layers: [spec.layers[0], { entries: [{ type: 'file', path: 'other', content: 'o' }], compression: 'gzip' }] };
  const { layout: b } = layoutWith(two);
  const second = await unpack(`${b}:v1`, layers, { format: 'oci' });
  assert.deepEqual([second.skipped, second.extracted], [[0], [1]]);
  assert.deepEqual(ls(path.join(layers, '1')), ['other']);
  assert.ok(!fs.existsSync(path.join(layers, '2')));
  assert.equal(readLayersRecord(layers).layers.length, 2);
  // another whiteout format means every layer is redone
  const third = await unpack(`${b}:v1`, layers, { format: 'overlay' });
  assert.deepEqual(third.extracted, [0, 1]);
});

test('a non-empty directory that ocimount did not make is refused', async () => {
  const { layout } = layoutWith(miniWeb());
  const layers = makeTmp('foreign');
  fs.writeFileSync(path.join(layers, 'precious'), 'do not delete');
  const r = await ocimount(['unpack', `${layout}:v1`, layers]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /is not empty and was not made by ocimount unpack/);
  assert.deepEqual(ls(layers), ['precious']);
});

test('platform selection through an index (and a nested one)', async () => {
  const layout = path.join(makeTmp('layout'), 'multi');
  const mk = (content: string): ImageSpec => ({ layers: [{ entries: [{ type: 'file', path: 'arch', content }], compression: 'gzip' }] });
  writeIndexImage(
    layout,
    [
      { spec: mk('amd64'), platform: { os: 'linux', architecture: 'amd64' } },
      { spec: mk('arm64'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
    { tag: 'multi' },
  );
  for (const [platform, want] of [
    ['linux/arm64', 'arm64'],
    ['linux/amd64', 'amd64'],
  ]) {
    const layers = path.join(makeTmp('layers'), 'L');
    const r = await ocimount(['unpack', `${layout}:multi`, layers, '--platform', platform, '--format', 'oci']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(layers, '0/arch'), 'utf8'), want);
    assert.equal(readLayersRecord(layers).source.platform, platform);
  }
  const none = await ocimount(['unpack', `${layout}:multi`, path.join(makeTmp('layers'), 'L'), '--platform', 'linux/s390x']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /s390x/);
});
