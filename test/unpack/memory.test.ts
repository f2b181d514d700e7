// Memory must not grow with layer size: a 256 MB gzip layer and a 256 MB zstd
// layer (zeros: the worst case for expansion, ~1000x and more) unpack in a child
// node with a 64 MB heap, and its peak RSS stays far below the layer size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeStreamedImage } from '../../src/dev/stream-image';
import type { TarEntry } from '../../src/dev/tar';
import { ROOT, makeTmp, run } from '../helpers/env';

const FILE = 8 * 1024 * 1024;
const FILES = 32; // 256 MB per layer

function* zeros(prefix: string): Generator<TarEntry> {
  const content = Buffer.alloc(FILE); // one buffer shared by every entry: the generator stays small
  yield { type: 'dir', path: `${prefix}/` };
  for (let i = 0; i < FILES; i++) yield { type: 'file', path: `${prefix}/f${i}`, content };
}

test('a large layer unpacks in bounded memory (child with --max-old-space-size=64)', async () => {
  const base = makeTmp('memory');
  const layout = path.join(base, 'layout');
  await writeStreamedImage(
    layout,
    [
      { entries: zeros('gz'), compression: 'gzip' },
      { entries: zeros('zs'), compression: 'zstd' },
    ],
    { tag: 'big' },
  );
  const layers = path.join(base, 'L');
  const script = `
    const { unpack } = require(${JSON.stringify(path.join(ROOT, 'dist/src/index.js'))});
    unpack(process.argv[1], process.argv[2], { format: 'oci' }).then(() => {
      console.log(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }));
    }, (e) => { console.error(e); process.exit(1); });`;
  const r = await run([process.execPath, '--max-old-space-size=64', '-e', script, `${layout}:big`, layers]);
  assert.equal(r.code, 0, r.stderr);
  const { maxRssKb } = JSON.parse(r.stdout) as { maxRssKb: number };
  const layerMb = (FILE * FILES) / 1e6;
  const rssMb = (maxRssKb * 1024) / 1e6;
  // Node itself is ~50 MB; buffering even a quarter of one layer would exceed this.
  console.log(`peak RSS ${rssMb.toFixed(0)} MB`);
  assert.ok(rssMb < 150, `peak RSS ${rssMb.toFixed(0)} MB for ${layerMb.toFixed(0)} MB layers`);
  for (const [i, p] of [
    [0, 'gz'],
    [1, 'zs'],
  ] as const) {
    const names = fs.readdirSync(path.join(layers, String(i), p));
    assert.equal(names.length, FILES);
    assert.equal(fs.statSync(path.join(layers, String(i), p, 'f31')).size, FILE);
  }
  fs.rmSync(base, { recursive: true, force: true });
});
