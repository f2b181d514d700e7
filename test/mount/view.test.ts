// The merged view through a real FUSE mount, as root and as an unprivileged user:
// top-down lookup, whiteouts and opaque directories in every on-disk form,
// readdir merge, stat presentation (override_stat when rootless), hardlinks,
// symlinks, devices, xattrs with internal ones hidden. Checked with ls, stat,
// cat, find, getfattr run as the mounting user.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native } from '../../src/native';
import { WHO, conformanceImage, lines, makeEnv, mustMount, teardown, treeHash, unpackImage } from './fixture';

for (const who of WHO) {
  test(`merged view of unpacked layers (${who})`, async () => {
    const e = makeEnv(who, `view-${who}`);
    try {
      await unpackImage(e, conformanceImage());
      const before = treeHash(e.layers);
      await mustMount(e);
      const M = e.mnt;
      // Top-level merge, markers never listed, no duplicates; . and .. present as on any directory.
      assert.deepEqual(lines(await e.sh(`ls -a ${M}`)), ['.', '..', 'abs-link', 'big', 'bin', 'd', 'dev', 'emptyish', 'etc', 'f', 'lowdir', 'merged', 'opq', 'owned', 'secret', 'xattr-file']);
      // Whiteout (tar .wh.a: a char 0/0 as root, a .wh. file rootless) hides the lower name.
      assert.deepEqual(lines(await e.sh(`ls -a ${M}/d`)), ['.', '..', 'b', 'c', 'keep']);
      const gone = await e.try(`cat ${M}/d/a`);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /No such file or directory/);
      assert.equal((await e.try(`stat ${M}/d/.wh.a`)).code, 1);
      // Opaque directory: nothing from below, no marker shown.
      assert.deepEqual(lines(await e.sh(`ls -a ${M}/opq`)), ['.', '..', 'new']);
      assert.equal((await e.try(`cat ${M}/opq/old`)).code, 1);
      assert.equal((await e.try(`ls ${M}/opq/sub`)).code, 2);
      // Merged directories at depth, each name once.
      assert.deepEqual(lines(await e.sh(`cd ${M} && find merged | sort`)), ['merged', 'merged/deep', 'merged/deep/x', 'merged/deep/y', 'merged/x', 'merged/y']);
      assert.deepEqual(lines(await e.sh(`cat ${M}/merged/deep/x ${M}/merged/deep/y; echo`)), ['dx0dy1']);
      // A directory whose only entry is whited out is empty in the merged view.
      assert.deepEqual(lines(await e.sh(`ls -A ${M}/emptyish`)), []);
      // The whole tree through find: no marker anywhere, each path once.
      const all = lines(await e.sh(`cd ${M} && find . | sort`));
      assert.equal(all.filter((p) => /\.wh\./.test(p)).length, 0);
      assert.equal(new Set(all).size, all.length);

      // stat: the winning entry's type, mode, size, mtime; owners from the image (override_stat when rootless).
      assert.equal(await e.sh(`cat ${M}/f`), 'top\n');
      assert.equal((await e.sh(`stat -c '%F|%a|%u:%g|%s|%Y|%h' ${M}/f`)).trim(), 'regular file|640|0:0|4|1100000000|1');
      assert.equal((await e.sh(`stat -c '%F|%a|%u:%g' ${M}/bin/tool`)).trim(), 'regular file|4755|0:0');
      assert.equal((await e.sh(`stat -c '%F|%a|%u:%g' ${M}/owned ${M}/owned/file`)).trim(), 'directory|750|1000:1000\nregular file|640|1000:1000');
      assert.equal((await e.sh(`stat -c '%F|%a|%u:%g|%t:%T' ${M}/dev/null`)).trim(), 'character special file|666|0:0|1:3');
      assert.equal((await e.sh(`stat -c '%s' ${M}/big`)).trim(), '300000');
      assert.equal((await e.sh(`cat ${M}/big | wc -c`)).trim(), '300000');
      // The root shows the image's owner and mode (rootless: the image's record, adopted by upper).
      assert.equal((await e.sh(`stat -c '%F|%a|%u:%g' ${M}`)).trim(), 'directory|755|0:0');
      // access(2) agrees with the modes shown (test -x, find -executable), also where the kernel asks us.
      assert.equal((await e.try(`test -x ${M}/f`)).code, 1, 'f is 0640: not executable');
      assert.equal((await e.try(`test -x ${M}/bin/tool`)).code, 0);
      assert.deepEqual(lines(await e.sh(`cd ${M} && find bin f etc d -executable | sort`)), ['bin', 'bin/sh', 'bin/tool', 'bin/tool-link', 'd', 'etc']);
      // Merged directories report nlink 1 (as the kernel overlay does); find still descends.
      assert.equal((await e.sh(`stat -c '%F|%a|%u:%g' ${M}/merged`)).trim(), 'directory|755|0:0');
      // Hardlinks: one inode number and nlink 2 for both names; symlinks as in the image.
      const [i1, i2] = lines(await e.sh(`stat -c '%i %h' ${M}/bin/tool ${M}/bin/tool-link`));
      assert.equal(i1, i2);
      assert.match(i1, / 2$/);
      assert.equal((await e.sh(`ls -i ${M}/bin | sort -k2`)).split('\n').filter((l) => / tool/.test(l)).map((l) => l.trim().split(/\s+/)[0]).filter((v, i, a) => a.indexOf(v) === i).length, 1);
      assert.equal((await e.sh(`readlink ${M}/bin/sh`)).trim(), 'tool');
      assert.equal((await e.sh(`stat -c '%F' ${M}/bin/sh`)).trim(), 'symbolic link');
      // The image's symlinks are root's, also rootless (where no record can be kept on a symlink).
      assert.equal((await e.sh(`stat -c '%u:%g' ${M}/bin/sh ${M}/abs-link`)).trim(), '0:0\n0:0');
      assert.equal(await e.sh(`${M}/bin/sh`), 'tool\n');
      assert.equal((await e.sh(`readlink ${M}/abs-link`)).trim(), '/etc/os-release');
      // readdir and stat agree on inode numbers.
      const lsI = lines(await e.sh(`ls -ai ${M}/d`)).map((l) => l.trim().split(/\s+/));
      for (const [ino, name] of lsI) {
        if (name === '..') continue;
        assert.equal((await e.sh(`stat -c %i ${M}/d/${name}`)).trim(), ino, `inode of ${name}`);
      }
      // Inode numbers are distinct for distinct files.
      const inos = lines(await e.sh(`cd ${M} && find . -xdev -printf '%i %p\\n'`));
      const byIno = new Map<string, string[]>();
      for (const l of inos) {
        const [i, p] = l.split(' ');
        byIno.set(i, [...(byIno.get(i) ?? []), p]);
      }
      for (const [, ps] of byIno) if (ps.length > 1) assert.deepEqual(ps.sort(), ['./bin/tool', './bin/tool-link']);

      // xattrs: the image's are readable, the overlay's and containers' never shown.
      assert.equal(await e.sh(`getfattr --only-values -n user.comment ${M}/xattr-file`), 'kept');
      for (const p of ['xattr-file', 'opq', 'bin/tool', 'owned', '.', 'd']) {
        const list = await e.sh(`getfattr -h -m - -d ${M}/${p} 2>&1`);
        assert.doesNotMatch(list, /overlay|containers/, `${p}: ${list}`);
      }
      const hidden = await e.try(`getfattr -n user.containers.override_stat ${M}/bin/tool`);
      assert.notEqual(hidden.code, 0);
      // Reading never changed a layer, and the upper stayed empty.
      assert.equal(treeHash(e.layers), before);
      assert.deepEqual(fs.readdirSync(e.upper), []);
    } finally {
      await teardown(e);
    }
  });

  test(`--lowerdir plain directories with every whiteout and opaque form (${who})`, async () => {
    const e = makeEnv(who, `lowerdir-${who}`);
    const top = path.join(e.base, 'top');
    const bot = path.join(e.base, 'bot');
    try {
      // Built by root (mknod and trusted.* need it); readable by everyone.
      for (const l of [top, bot]) fs.mkdirSync(l, { mode: 0o755 });
      for (const n of ['cw', 'ow', 'keep']) fs.writeFileSync(path.join(bot, n), n);
      for (const o of ['o1', 'o2', 'o3', 'o4']) {
        fs.mkdirSync(path.join(bot, o));
        fs.writeFileSync(path.join(bot, o, 'old'), 'old');
        fs.mkdirSync(path.join(top, o));
        fs.writeFileSync(path.join(top, o, 'new'), 'new');
      }
      native().mknod(path.join(top, 'cw'), 0o020000, 0);
      fs.writeFileSync(path.join(top, '.wh.ow'), '');
      native().lsetxattr(path.join(top, 'o1'), 'trusted.overlay.opaque', Buffer.from('y'), 0);
      native().lsetxattr(path.join(top, 'o2'), 'user.overlay.opaque', Buffer.from('y'), 0);
      fs.writeFileSync(path.join(top, 'o3', '.wh..wh..opq'), '');
      // o4: not opaque, merged.
      const before = treeHash(top) + treeHash(bot);
      await mustMount(e, [], { lowerdir: `${top}:${bot}` });
      const M = e.mnt;
      assert.deepEqual(lines(await e.sh(`ls -A ${M}`)), ['keep', 'o1', 'o2', 'o3', 'o4']);
      for (const n of ['cw', 'ow', '.wh.ow']) assert.notEqual((await e.try(`stat ${M}/${n}`)).code, 0, n);
      // trusted.* xattrs are invisible without CAP_SYS_ADMIN, so only root can honour the trusted form
      // (the kernel overlay in a user namespace ignores it too, with userxattr).
      assert.deepEqual(lines(await e.sh(`ls -A ${M}/o1`)), who === 'root' ? ['new'] : ['new', 'old']);
      assert.deepEqual(lines(await e.sh(`ls -A ${M}/o2`)), ['new']);
      assert.deepEqual(lines(await e.sh(`ls -A ${M}/o3`)), ['new']);
      assert.deepEqual(lines(await e.sh(`ls -A ${M}/o4`)), ['new', 'old']);
      assert.equal(await e.sh(`cat ${M}/o4/old ${M}/keep`), 'oldkeep');
      // Writing through the mount: a new name where a whiteout was, in an opaque dir; lowers untouched.
      await e.sh(`echo back > ${M}/cw && echo more > ${M}/o3/old`);
      assert.equal(await e.sh(`cat ${M}/cw ${M}/o3/old`), 'back\nmore\n');
      assert.deepEqual(lines(await e.sh(`ls -A ${M}/o3`)), ['new', 'old']);
      await e.cli(['umount', M]);
      fs.rmSync(e.upper, { recursive: true });
      fs.rmSync(e.work, { recursive: true });
      assert.equal(treeHash(top) + treeHash(bot), before);
    } finally {
      await teardown(e);
    }
  });
}
