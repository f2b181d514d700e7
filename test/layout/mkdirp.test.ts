// Directories ocimount creates on the way (layout, layers, bundle, upper/work): a parent
// that exists but refuses children (/proc) is one clear error, not an endless loop
// (Node 20's recursive mkdir spins there).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mkdirp } from '../../src/mkdirp';
import { miniWeb, writeImage } from '../../src/dev/image-builder';
import { makeTmp, ocimount } from '../helpers/env';

test('mkdirp makes every missing level, accepts an existing dir, refuses a file on the way and /proc', () => {
  const base = makeTmp('mkdirp');
  mkdirp(path.join(base, 'a/b/c'), 0o750);
  assert.ok(fs.statSync(path.join(base, 'a/b/c')).isDirectory());
  assert.equal(fs.statSync(path.join(base, 'a/b')).mode & 0o777, 0o750);
  mkdirp(path.join(base, 'a/b/c'));
  fs.writeFileSync(path.join(base, 'f'), 'x');
  assert.throws(() => mkdirp(path.join(base, 'f/g')), { code: 'ENOTDIR' });
  assert.throws(() => mkdirp('/proc/ocimount-nope/x'), { code: 'ENOENT' });
});

test('pull and unpack into /proc end at once with one message and exit 1', async () => {
  const layout = path.join(makeTmp('mkdirp-img'), 'layout');
  writeImage(layout, miniWeb(), { tag: 'v1' });
  for (const args of [
    ['pull', '127.0.0.1:9/x:y', '/proc/ocimount-nope'],
    ['unpack', `${layout}:v1`, '/proc/ocimount-nope'],
  ]) {
    const r = await ocimount(args, { timeoutMs: 30_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^ocimount: ENOENT: no such file or directory, mkdir '\/proc\/ocimount-nope'$/m);
  }
});
