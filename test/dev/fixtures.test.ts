// The fixture builders must produce archives and layouts that independent tools read.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tarBuffer } from '../../src/dev/tar';
import { miniWeb, writeImage, writeIndexImage } from '../../src/dev/image-builder';
import { makeTmp } from '../helpers/env';

test('GNU tar reads every entry type, long names (pax and gnu) and pax xattrs', () => {
  const dir = makeTmp('tarfix');
  const long = 'd/' + 'x'.repeat(150) + '/file-with-a-long-name.txt';
  for (const longNames of ['pax', 'gnu'] as const) {
    const tar = tarBuffer(
      [
        { type: 'dir', path: 'd/' },
        { type: 'file', path: long, content: 'long\n', mode: 0o4755, uid: 3000000, gid: 7 },
        { type: 'symlink', path: 'd/ln', linkname: '../' + 'y'.repeat(120) },
        { type: 'hardlink', path: 'd/hl', linkname: long },
        { type: 'char', path: 'd/null', devmajor: 1, devminor: 3, mode: 0o666 },
        { type: 'block', path: 'd/blk', devmajor: 7, devminor: 0 },
        { type: 'fifo', path: 'd/fifo' },
        { type: 'file', path: 'd/cap', content: 'x', xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0]) }, mtime: 1700000000.25 },
      ],
      { longNames },
    );
    const file = path.join(dir, `${longNames}.tar`);
    fs.writeFileSync(file, tar);
    const listing = execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-tvvf', file], { encoding: 'utf8' });
    assert.match(listing, new RegExp(`-rwsr-xr-x +3000000/7 +5 .* ${long.replace(/[.]/g, '\\.')}`));
    assert.match(listing, /lrwxrwxrwx .* d\/ln -> \.\.\/y{120}/);
    assert.match(listing, /hrw-r--r-- .* d\/hl link to d\/x{150}/);
    assert.match(listing, /crw-rw-rw- .* 1,3 .* d\/null/);
    assert.match(listing, /brw-r--r-- .* 7,0 .* d\/blk/);
    assert.match(listing, /prw-r--r-- .* d\/fifo/);
    if (longNames === 'pax') assert.match(listing, /x: 12 security\.capability/);
  }
});

test('mini-web:v1 layout reads with skopeo and umoci', () => {
  const layout = makeTmp('miniweb');
  const img = writeImage(layout, miniWeb(), { tag: 'v1' });
  const info = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layout}:v1`], { encoding: 'utf8' }));
  assert.equal(info.Digest, img.manifestDigest);
  assert.equal(info.Layers.length, 3);
  const umoci = execFileSync('umoci', ['ls', '--layout', layout], { encoding: 'utf8' });
  assert.equal(umoci.trim(), 'v1');
});

test('multi-platform index lists both platforms for skopeo', () => {
  const layout = makeTmp('multi');
  const mk = (v: string) => ({ layers: [{ entries: [{ type: 'file' as const, path: 'arch', content: v }] }] });
  writeIndexImage(layout, [
    { spec: mk('amd64'), platform: { os: 'linux', architecture: 'amd64' } },
    { spec: mk('arm64'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ], { tag: 'multi' });
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:multi`], { encoding: 'utf8' }));
  assert.deepEqual(raw.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture), ['amd64', 'arm64']);
});
