// The life of a FUSE mount through the CLI, as root and as an unprivileged user:
// --read-only, --foreground ended by SIGTERM, umount of a busy mount (BUSY, --lazy),
// a killed server's stale mount, a second mount on a mounted point, and
// /dev/fuse the user cannot open.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, asUser, mountsUnder } from '../helpers/env';
import { WHO, conformanceImage, makeEnv, mount, mustMount, teardown, unpackImage } from './fixture';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mounted(p: string): boolean {
  return mountsUnder(p).includes(p);
}

async function until(what: string, cond: () => boolean, ms = 20_000, step = 50): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    if (cond()) return;
    await sleep(step);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const who of WHO) {
  test(`--read-only answers EROFS to every write (${who})`, async () => {
    const e = makeEnv(who, `ro-${who}`);
    try {
      await unpackImage(e, conformanceImage());
      const bad = await mount(e, ['--read-only']);
      assert.equal(bad.code, 2, 'read-only with --upper is a usage error');
      // A mountpoint with files in it is mounted over (as mount -t overlay does) and shows them again after.
      await e.sh(`echo under > ${e.mnt}/under.txt`);
      const m = await mustMount(e, [], { readOnly: true });
      const log = /, log (\S+)\)/.exec(m.stdout)?.[1] ?? '';
      assert.ok(fs.existsSync(log), `server log ${log}`);
      assert.equal(await e.sh(`cat ${e.mnt}/f`), 'top\n');
      assert.notEqual((await e.try(`cat ${e.mnt}/under.txt`)).code, 0);
      // The kernel knows it is read-only: access(W_OK) says no, /proc/mounts says ro.
      assert.equal((await e.try(`test -w ${e.mnt}/f`)).code, 1);
      assert.match(fs.readFileSync('/proc/mounts', 'utf8').split('\n').find((l) => l.split(' ')[1] === e.mnt) ?? '', / ro[, ]/);
      for (const cmd of [`touch ${e.mnt}/new`, `echo x >> ${e.mnt}/f`, `rm ${e.mnt}/f`, `mkdir ${e.mnt}/nd`, `chmod 777 ${e.mnt}/f`, `mv ${e.mnt}/f ${e.mnt}/g`, `setfattr -n user.a -v 1 ${e.mnt}/f`]) {
        const r = await e.try(cmd);
        assert.notEqual(r.code, 0, cmd);
        assert.match(r.stderr, /Read-only file system/, cmd);
      }
      assert.equal(fs.existsSync(e.upper), false);
      assert.equal((await e.cli(['umount', e.mnt])).code, 0);
      assert.equal(fs.existsSync(log), false, 'umount removes the server log');
      assert.equal(await e.sh(`cat ${e.mnt}/under.txt`), 'under\n');
    } finally {
      await teardown(e);
    }
  });

  test(`--foreground serves until SIGTERM, then unmounts cleanly (${who})`, async () => {
    const e = makeEnv(who, `fg-${who}`);
    try {
      await unpackImage(e, conformanceImage());
      const argv = [process.execPath, CLI, 'mount', e.layers, e.mnt, '--upper', e.upper, '--work', e.work, '--foreground'];
      const full = who === 'user' ? asUser(argv) : argv;
      const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      await until('the foreground mount', () => mounted(e.mnt) && /serving/.test(stderr));
      assert.equal(await e.sh(`cat ${e.mnt}/f`), 'top\n');
      await e.sh(`echo fg > ${e.mnt}/fg.txt`);
      child.kill('SIGTERM'); // setpriv execs, so this is the server itself
      assert.equal(await exited, 0, stderr);
      assert.equal(mounted(e.mnt), false);
      assert.match(stderr, /unmounted/);
      assert.equal(fs.readFileSync(`${e.upper}/fg.txt`, 'utf8'), 'fg\n');
      // Nothing recorded is left: umount says it is not mounted.
      const again = await e.cli(['umount', e.mnt]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /not mounted/);
      // A foreground mount is also ended by `ocimount umount` (and by SIGINT, as Ctrl-C).
      for (const end of ['umount', 'SIGINT'] as const) {
        const c2 = spawn(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
        let err2 = '';
        c2.stderr.on('data', (d) => (err2 += d));
        const done = new Promise<number | null>((r) => c2.on('exit', (code) => r(code)));
        await until('the foreground mount', () => mounted(e.mnt) && /serving/.test(err2));
        if (end === 'umount') assert.equal((await e.cli(['umount', e.mnt])).code, 0);
        else c2.kill('SIGINT');
        assert.equal(await done, 0, `${end}: ${err2}`);
        assert.equal(mounted(e.mnt), false, end);
      }
    } finally {
      await teardown(e);
    }
  });

  test(`umount of a busy mount says BUSY; --lazy detaches; the server stops (${who})`, async () => {
    const e = makeEnv(who, `busy-${who}`);
    let holder: ReturnType<typeof spawn> | undefined;
    try {
      await unpackImage(e, conformanceImage());
      const m = await mount(e);
      assert.equal(m.code, 0, m.stderr);
      const pid = Number(/server pid (\d+)/.exec(m.stdout)?.[1]);
      assert.ok(pid > 0, m.stdout);
      // The user's mount is closed to root (no --allow-other): the holder enters it as the user.
      const argv = ['sh', '-c', `cd ${e.mnt}/d && echo in && exec sleep 600`];
      const full = who === 'user' ? asUser(argv) : argv;
      holder = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
      const entered = await new Promise<boolean>((r) => {
        holder!.stdout!.once('data', () => r(true));
        holder!.once('exit', () => r(false));
      });
      assert.ok(entered, 'the holder could not enter the mount');
      const r = await e.cli(['umount', e.mnt]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /busy/);
      assert.match(r.stderr, /--lazy/);
      assert.ok(mounted(e.mnt));
      assert.ok(alive(pid));
      // A second mount on the same point is refused with a clear message.
      const twice = await mount(e);
      assert.equal(twice.code, 1);
      assert.match(twice.stderr, /already a mount point/);
      const lazy = await e.cli(['umount', '--lazy', e.mnt]);
      assert.equal(lazy.code, 0, lazy.stderr);
      assert.equal(mounted(e.mnt), false);
      holder.kill('SIGKILL');
      holder = undefined;
      await until('the server to exit', () => !alive(pid));
    } finally {
      holder?.kill('SIGKILL');
      await teardown(e);
    }
  });

  test(`umount cleans up after a killed server (${who})`, async () => {
    const e = makeEnv(who, `killed-${who}`);
    try {
      await unpackImage(e, conformanceImage());
      const m = await mount(e);
      assert.equal(m.code, 0, m.stderr);
      const pid = Number(/server pid (\d+)/.exec(m.stdout)?.[1]);
      process.kill(pid, 'SIGKILL');
      await until('the server to die', () => !alive(pid));
      const stale = await e.try(`ls ${e.mnt}`);
      assert.match(stale.stderr, /Transport endpoint is not connected/);
      assert.ok(mounted(e.mnt));
      // Mounting again over the dead mount says what is there and what to do.
      const again = await mount(e);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /is a FUSE mount whose server is gone; run "ocimount umount/);
      const r = await e.cli(['umount', e.mnt]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(mounted(e.mnt), false);
      // and the point can be mounted again
      await mustMount(e);
      assert.equal(await e.sh(`cat ${e.mnt}/f`), 'top\n');
    } finally {
      await teardown(e);
    }
  });
}

test('a server killed in the middle of a copy-up leaves nothing half-copied in upper; the next mount cleans the work dir', async () => {
  const e = makeEnv('root', 'crash');
  const low = path.join(e.base, 'low');
  try {
    fs.mkdirSync(low);
    // Big enough that the copy takes a while on a filesystem without reflinks.
    const fd = fs.openSync(path.join(low, 'big'), 'w');
    const chunk = Buffer.alloc(8 << 20, 0x61);
    for (let i = 0; i < 64; i++) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
    const m = await mount(e, [], { lowerdir: low });
    assert.equal(m.code, 0, m.stderr);
    const pid = Number(/server pid (\d+)/.exec(m.stdout)?.[1]);
    const writer = e.try(`echo tail >> ${e.mnt}/big`);
    // The copy-up is staged in the work dir: kill the server once it is there.
    await until('a staged copy-up', () => fs.readdirSync(e.work).some((n) => n.startsWith('ocimount-cu-')), 20_000, 2);
    process.kill(pid, 'SIGKILL');
    assert.notEqual((await writer).code, 0);
    assert.equal(fs.existsSync(path.join(e.upper, 'big')), false, 'a half-copied file is visible in upper');
    assert.equal((await e.cli(['umount', e.mnt])).code, 0);
    await mustMount(e, [], { lowerdir: low });
    assert.deepEqual(fs.readdirSync(e.work), []);
    assert.equal((await e.sh(`stat -c %s ${e.mnt}/big`)).trim(), String(512 << 20));
    await e.sh(`echo tail >> ${e.mnt}/big`);
    assert.equal(fs.statSync(path.join(e.upper, 'big')).size, (512 << 20) + 5);
    assert.equal(fs.statSync(path.join(low, 'big')).size, 512 << 20);
  } finally {
    await teardown(e);
  }
});

test('a user mounting on a directory it cannot write gets a clear PERMISSION message', async () => {
  const e = makeEnv('user', 'notmine');
  const rootOwned = path.join(e.base, 'root-owned');
  try {
    await unpackImage(e, conformanceImage());
    fs.mkdirSync(rootOwned, { mode: 0o755 });
    const r = await e.cli(['mount', e.layers, rootOwned, '--upper', e.upper, '--work', e.work]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /mountpoint .*root-owned is not writable by uid \d+: fusermount lets users mount only on directories they may write to/);
    assert.equal(mounted(rootOwned), false);
  } finally {
    await teardown(e);
  }
});

test('a user cannot mount layers root unpacked for the kernel overlay (trusted.* opaque marks it cannot read)', { skip: process.getuid?.() === 0 ? false : 'needs root to unpack' }, async () => {
  const e = makeEnv('user', 'trusted-opaque');
  try {
    const rootUnpack = makeEnv('root', 'trusted-opaque-layers');
    await unpackImage(rootUnpack, conformanceImage()); // overlay format, as root
    const r = await e.cli(['mount', rootUnpack.layers, e.mnt, '--read-only']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unpacked for the kernel overlay .*trusted\.overlay\.opaque.* cannot read: mount it as root, or unpack it again as this user \(--format oci\) or with --userxattr/);
    assert.equal(mounted(e.mnt), false);
    const w = await e.cli(['which', rootUnpack.layers, '/opq/old']);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /trusted\.overlay\.opaque, which uid \d+ cannot read: run this as root/);
    // Unpacked with --userxattr, the user can read the marks and mount.
    const ux = makeEnv('root', 'userxattr-layers');
    await unpackImage(ux, conformanceImage(), ['--format', 'overlay', '--userxattr']);
    const ok = await e.cli(['mount', ux.layers, e.mnt, '--read-only']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(await e.sh(`ls -A ${e.mnt}/opq ${e.mnt}/d | tr '\\n' ' '`), `${e.mnt}/d: b c keep  ${e.mnt}/opq: new `);
  } finally {
    await teardown(e);
  }
});

test('/dev/fuse not accessible to the user: a PERMISSION message that says how to fix it', { skip: process.getuid?.() === 0 ? false : 'needs root to chmod /dev/fuse' }, async () => {
  const e = makeEnv('user', 'devfuse');
  const mode = fs.statSync('/dev/fuse').mode & 0o7777;
  try {
    await unpackImage(e, conformanceImage());
    fs.chmodSync('/dev/fuse', 0o600);
    let r;
    try {
      r = await mount(e);
    } finally {
      fs.chmodSync('/dev/fuse', mode);
    }
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PERMISSION|not accessible/);
    assert.match(r.stderr, /chmod 0666 \/dev\/fuse/);
    assert.equal(mounted(e.mnt), false);
  } finally {
    fs.chmodSync('/dev/fuse', 0o666);
    await teardown(e);
  }
});
