// Atomicity: an unpack killed with SIGKILL in the middle of a layer leaves only a
// .tmp-N-* sibling (never a half layer at N); the next run removes it, keeps the
// finished layers and completes the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeStreamedImage } from '../../src/dev/stream-image';
import type { TarEntry } from '../../src/dev/tar';
import { CLI, makeTmp, ocimount } from '../helpers/env';

function* big(): Generator<TarEntry> {
  const content = Buffer.alloc(4 * 1024 * 1024, 'z');
  for (let i = 0; i < 64; i++) yield { type: 'file', path: `big/f${i}`, content };
}

test('SIGKILL mid-unpack: the next run cleans up and finishes', async () => {
  const base = makeTmp('crash');
  const layout = path.join(base, 'layout');
  await writeStreamedImage(layout, [{ entries: [{ type: 'file', path: 'small', content: 's' }], compression: 'gzip' }, { entries: big(), compression: 'gzip' }], { tag: 't' });
  const layers = path.join(base, 'L');

  const child = spawn(process.execPath, [CLI, 'unpack', `${layout}:t`, layers], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let killed = false;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline && child.exitCode === null) {
    const tmp = fs.existsSync(layers) ? fs.readdirSync(layers).find((n) => n.startsWith('.tmp-1-')) : undefined;
    if (tmp && fs.existsSync(path.join(layers, tmp, 'big/f3'))) {
      child.kill('SIGKILL');
      killed = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await exited;
  assert.ok(killed, 'the child was killed while extracting layer 1');
  const left = fs.readdirSync(layers).sort();
  assert.ok(left.some((n) => n.startsWith('.tmp-1-')), `a temp dir is left: ${left}`);
  assert.ok(!left.includes('1'), 'no half layer at 1');
  assert.ok(!left.includes('layers.json'));
  assert.ok(left.includes('0') && left.includes('.layer-0.json'), 'layer 0 was finished and marked');

  const r = await ocimount(['unpack', `${layout}:t`, layers]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /layer 0 .* already unpacked\nlayer 1 .* unpacked\n/);
  const after = fs.readdirSync(layers);
  assert.deepEqual(after.filter((n) => n.includes('.tmp-')), []);
  assert.equal(fs.readdirSync(path.join(layers, '1/big')).length, 64);
  assert.equal(fs.statSync(path.join(layers, '1/big/f63')).size, 4 * 1024 * 1024);
  fs.rmSync(base, { recursive: true, force: true });
});
