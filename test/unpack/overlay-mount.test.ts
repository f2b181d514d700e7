// The overlay format works directly as kernel overlayfs lowerdirs: mount the
// unpacked layers with `mount -t overlay` and compare the merged view with the
// image-spec's changeset rules applied to an oci-format unpack of the same image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeImage } from '../../src/dev/image-builder';
import { unpack } from '../../src/index';
import { isRoot, makeTmp, unmountAll } from '../helpers/env';
import { execFileSync } from 'node:child_process';

// execFileSync rather than helpers' run(): run() writes to the stdin of commands that may
// already have exited (EPIPE), which short commands like ls/stat/mount do.
const sh = (argv: string[]): string => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8' });
import { WHITEOUT_IMAGE_FILES, mergeOciLayers, viewLines, viewOf, whiteoutImage } from './fixtures';

for (const userxattr of [false, true]) {
  test(`kernel overlay mount of overlay-format layers${userxattr ? ' (--userxattr, -o userxattr)' : ''} equals the spec's merge`, { skip: !isRoot && 'needs root' }, async () => {
    const base = makeTmp('ovl');
    const layout = path.join(base, 'layout');
    writeImage(layout, whiteoutImage(), { tag: 'w' });
    const ovl = path.join(base, 'ovl');
    const oci = path.join(base, 'oci');
    await unpack(`${layout}:w`, ovl, { format: 'overlay', userxattr });
    await unpack(`${layout}:w`, oci, { format: 'oci' });
    const expected = mergeOciLayers([0, 1, 2].map((i) => path.join(oci, String(i))));

    const mnt = path.join(base, 'mnt');
    fs.mkdirSync(mnt);
    const lower = [2, 1, 0].map((i) => path.join(ovl, String(i))).join(':');
    try {
      sh(['mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower}${userxattr ? ',userxattr' : ''}`, mnt]);
      const merged = viewOf(mnt);
      assert.deepEqual(viewLines(merged), viewLines(expected));
      for (const [p, content] of Object.entries(WHITEOUT_IMAGE_FILES)) assert.equal(fs.readFileSync(path.join(mnt, p), 'utf8'), content, p);
      const ls = (p: string): string => sh(['ls', '-A', path.join(mnt, p)]).trim().split('\n').join(' ');
      assert.equal(ls(''), 'a bin d2f d3 dev dir dup f2d late readd.txt ro tmp xattr-file');
      assert.equal(ls('a'), 'y');
      assert.equal(ls('dir'), 'new');
      assert.equal(ls('d3'), 'newchild');
      assert.equal(sh(['stat', '-c', '%A %U:%G', path.join(mnt, 'bin/tool')]).trim(), '-rwsr-xr-x root:root');
      assert.equal(sh(['stat', '-c', '%F %t:%T', path.join(mnt, 'dev/null')]).trim(), 'character special file 1:3');
    } finally {
      unmountAll(mnt);
    }
    assert.deepEqual(fs.readdirSync(mnt), []);
  });
}
