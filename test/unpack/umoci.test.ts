// Cross-check with Debian's umoci on the same images. umoci flattens all layers
// into one rootfs; we keep one directory per layer, so the comparison is
// umoci's rootfs against the image-spec merge of our oci-format layer dirs.
//
// Differences, explained:
// - As root: none (types, modes incl. setuid/sticky, owners, contents, link
//   targets and device numbers all agree).
// - Rootless: umoci keeps the image's mode on disk (0000 files, 0555 dirs,
//   setuid bits on user-owned files); we keep the owner able to read, write and
//   traverse (u+rw files, u+rwx dirs, no setuid/setgid/sticky on disk) and put
//   the exact mode in user.containers.override_stat, where fuse-overlayfs and
//   containers/storage look for it. Comparing with the recorded mode, the trees
//   agree. (umoci records ownership in user.rootlesscontainers, a protobuf; it
//   cannot set it on its read-only entries, as its own warnings say.)
// - Both turn devices into empty regular files when rootless.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { miniWeb, writeImage } from '../../src/dev/image-builder';
import { unpack } from '../../src/index';
import { asUser, makeTmp, makeUserTmp, ocimount } from '../helpers/env';
import { mergeOciLayers, viewLines, viewOf, whiteoutImage } from './fixtures';

// (Debian's umoci 0.4.7 refuses zstd layers, "blob is not correct mediatype", so zstd is not cross-checked here.)
const images = { whiteouts: whiteoutImage(), 'mini-web': miniWeb(), 'uncompressed whiteouts': whiteoutImage('none') };

test('as root: umoci unpack and our merged layers are the same tree', async () => {
  for (const [name, spec] of Object.entries(images)) {
    const base = makeTmp('umoci');
    const layout = path.join(base, 'img');
    const img = writeImage(layout, spec, { tag: 't' });
    const ours = path.join(base, 'L');
    await unpack(`${layout}:t`, ours, { format: 'oci' });
    execFileSync('umoci', ['unpack', '--image', `${layout}:t`, path.join(base, 'bundle')], { stdio: 'pipe' });
    const merged = mergeOciLayers(img.manifest.layers.map((_, i) => path.join(ours, String(i))));
    assert.deepEqual(viewLines(merged), viewLines(viewOf(path.join(base, 'bundle/rootfs'))), name);
  }
});

test('rootless (both as the unprivileged user): same tree once our recorded modes are read back', async () => {
  const base = makeTmp('umoci');
  const layout = path.join(base, 'img');
  writeImage(layout, whiteoutImage(), { tag: 't' });
  const dir = makeUserTmp('umoci-rootless');
  const r = await ocimount(['unpack', '-q', `${layout}:t`, path.join(dir, 'L')], { unprivileged: true });
  assert.equal(r.code, 0, r.stderr);
  const umoci = asUser(['umoci', 'unpack', '--rootless', '--image', `${layout}:t`, path.join(dir, 'bundle')]);
  execFileSync(umoci[0], umoci.slice(1), { stdio: 'pipe', env: { ...process.env, HOME: '/nonexistent' } });
  const merged = mergeOciLayers(
    [0, 1, 2].map((i) => path.join(dir, 'L', String(i))),
    { modeFromRecord: true },
  );
  assert.deepEqual(viewLines(merged), viewLines(viewOf(path.join(dir, 'bundle/rootfs'))));
  // and on disk the modes really differ where the comment above says
  assert.equal(viewOf(path.join(dir, 'L/0')).get('ro/secret')?.split(' ')[1], '0600');
  assert.equal(viewOf(path.join(dir, 'bundle/rootfs')).get('ro/secret')?.split(' ')[1], '0000');
});

test('an image umoci built (init, new, insert) unpacks to what was inserted, although its tars lack the end blocks', async () => {
  const base = makeTmp('umoci-built');
  const layout = path.join(base, 'lay');
  const src = path.join(base, 'src');
  fs.mkdirSync(path.join(src, 'etc', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(src, 'etc', 'x'), 'hi\n');
  fs.writeFileSync(path.join(src, 'etc', 'sub', 'y'), 'there\n');
  execFileSync('umoci', ['init', '--layout', layout], { stdio: 'pipe' });
  execFileSync('umoci', ['new', '--image', `${layout}:t1`], { stdio: 'pipe' });
  execFileSync('umoci', ['insert', '--image', `${layout}:t1`, path.join(src, 'etc'), '/etc'], { stdio: 'pipe' });
  // What umoci 0.4.7 writes: the last body with no padding and no end-of-archive blocks.
  const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0].digest.slice(7)), 'utf8'));
  const tar = zlib.gunzipSync(fs.readFileSync(path.join(layout, 'blobs/sha256', manifest.layers[0].digest.slice(7))));
  assert.notEqual(tar.length % 512, 0, 'umoci wrote a complete archive: this test no longer covers the short form');
  const r = await ocimount(['unpack', '-q', `${layout}:t1`, path.join(base, 'L')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(fs.readFileSync(path.join(base, 'L/0/etc/x'), 'utf8'), 'hi\n');
  assert.equal(fs.readFileSync(path.join(base, 'L/0/etc/sub/y'), 'utf8'), 'there\n');
});
