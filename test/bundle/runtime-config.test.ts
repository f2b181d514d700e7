// config.json from image configs: args, env, cwd, user (numeric and by name through the
// rootfs's passwd/group, symlinks kept inside the rootfs), runc-style defaults.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runtimeConfig, resolveInRootfs, resolveUser } from '../../src/bundle';
import type { ImageConfig } from '../../src/image/types';
import { isOcimountError } from '../../src/errors';
import { makeTmp } from '../helpers/env';

function image(config: ImageConfig['config']): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } };
}

function fakeRootfs(): string {
  const root = path.join(makeTmp('bundle'), 'rootfs');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'etc/passwd'),
    ['root:x:0:0:root:/root:/bin/sh', '# comment', 'www-data:x:33:33:www:/var/www:/usr/sbin/nologin', 'app:x:1000:1000::/home/app:/bin/sh', ''].join('\n'),
  );
  fs.writeFileSync(path.join(root, 'etc/group'), ['root:x:0:', 'www-data:x:33:', 'app:x:1000:', 'audio:x:29:app,other', 'staff:x:50:app', ''].join('\n'));
  return root;
}

test('process args are Entrypoint then Cmd; env, cwd and runc defaults', () => {
  const cfg = runtimeConfig(
    image({ Entrypoint: ['python3', '-u'], Cmd: ['/app/server.py'], Env: ['PATH=/usr/bin:/bin', 'APP=1'], WorkingDir: '/app' }),
    { rootfs: 'rootfs' },
  );
  assert.equal(cfg.ociVersion, '1.0.2');
  assert.deepEqual(cfg.process.args, ['python3', '-u', '/app/server.py']);
  assert.deepEqual(cfg.process.env, ['PATH=/usr/bin:/bin', 'APP=1']);
  assert.equal(cfg.process.cwd, '/app');
  assert.equal(cfg.process.terminal, false);
  assert.deepEqual(cfg.process.user, { uid: 0, gid: 0 });
  assert.deepEqual(cfg.root, { path: 'rootfs', readonly: false });
  assert.deepEqual(
    cfg.mounts.map((m) => `${m.destination} ${m.type}`),
    ['/proc proc', '/dev tmpfs', '/dev/pts devpts', '/dev/shm tmpfs', '/dev/mqueue mqueue', '/sys sysfs', '/sys/fs/cgroup cgroup'],
  );
  assert.deepEqual(cfg.linux.namespaces.map((n) => n.type), ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup']);
  assert.ok(cfg.linux.maskedPaths.includes('/proc/kcore'));
  assert.equal(cfg.process.noNewPrivileges, true);
  // Round-trips as JSON (what goes to disk).
  assert.deepEqual(JSON.parse(JSON.stringify(cfg)), cfg);
});

test('defaults: no Entrypoint/Cmd gives sh, missing PATH is added, cwd /', () => {
  const cfg = runtimeConfig(image({ Env: ['A=b'] }));
  assert.deepEqual(cfg.process.args, ['sh']);
  assert.deepEqual(cfg.process.env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=b']);
  assert.equal(cfg.process.cwd, '/');
  const none = runtimeConfig({ rootfs: { type: 'layers', diff_ids: [] } });
  assert.deepEqual(none.process.args, ['sh']);
  // Cmd only, Entrypoint null (as docker writes it).
  assert.deepEqual(runtimeConfig(image({ Entrypoint: null, Cmd: ['/bin/sh', '-c', 'echo hi'] })).process.args, ['/bin/sh', '-c', 'echo hi']);
  // terminal adds TERM, as runc spec does.
  assert.ok(runtimeConfig(image({}), { terminal: true }).process.env.includes('TERM=xterm'));
});

test('numeric users need no rootfs', () => {
  assert.deepEqual(runtimeConfig(image({ User: '1000' })).process.user, { uid: 1000, gid: 0 });
  assert.deepEqual(runtimeConfig(image({ User: '1000:2000' })).process.user, { uid: 1000, gid: 2000 });
  assert.deepEqual(runtimeConfig(image({ User: '' })).process.user, { uid: 0, gid: 0 });
});

test('user and group names resolve through the rootfs passwd and group files', () => {
  const rootfsDir = fakeRootfs();
  assert.deepEqual(runtimeConfig(image({ User: 'www-data' }), { rootfsDir }).process.user, { uid: 33, gid: 33 });
  // Supplementary groups from /etc/group membership.
  assert.deepEqual(runtimeConfig(image({ User: 'app' }), { rootfsDir }).process.user, { uid: 1000, gid: 1000, additionalGids: [29, 50] });
  assert.deepEqual(runtimeConfig(image({ User: 'app:www-data' }), { rootfsDir }).process.user, { uid: 1000, gid: 33 });
  assert.deepEqual(runtimeConfig(image({ User: '33' }), { rootfsDir }).process.user, { uid: 33, gid: 33 });
  assert.deepEqual(runtimeConfig(image({ User: '1000:audio' }), { rootfsDir }).process.user, { uid: 1000, gid: 29 });
  assert.throws(
    () => runtimeConfig(image({ User: 'nobody-here' }), { rootfsDir }),
    (e: unknown) => isOcimountError(e, 'NOT_FOUND') && /nobody-here/.test((e as Error).message),
  );
  assert.throws(() => runtimeConfig(image({ User: 'app:nogroup' }), { rootfsDir }), (e: unknown) => isOcimountError(e, 'NOT_FOUND'));
  assert.throws(() => runtimeConfig(image({ User: 'app' })), (e: unknown) => isOcimountError(e, 'NOT_FOUND'));
});

test('symlinked /etc/passwd resolves inside the rootfs, never on the host', () => {
  const rootfsDir = fakeRootfs();
  // An absolute link would reach the host's /etc/passwd if followed naively.
  fs.mkdirSync(path.join(rootfsDir, 'real'));
  fs.renameSync(path.join(rootfsDir, 'etc/passwd'), path.join(rootfsDir, 'real/passwd'));
  fs.symlinkSync('/real/passwd', path.join(rootfsDir, 'etc/passwd'));
  assert.equal(resolveInRootfs(rootfsDir, '/etc/passwd'), path.join(rootfsDir, 'real/passwd'));
  assert.deepEqual(resolveUser('app', rootfsDir), { uid: 1000, gid: 1000, additionalGids: [29, 50], username: 'app' });
  // A link climbing out with .. stays at the rootfs root.
  fs.symlinkSync('../../../../etc/shadow', path.join(rootfsDir, 'etc/escape'));
  assert.equal(resolveInRootfs(rootfsDir, '/etc/escape'), path.join(rootfsDir, 'etc/shadow'));
  // A link to the host's passwd names a user the rootfs does not have.
  fs.unlinkSync(path.join(rootfsDir, 'etc/passwd'));
  fs.symlinkSync('/etc/passwd', path.join(rootfsDir, 'etc/passwd'));
  assert.throws(() => resolveUser('root', rootfsDir), (e: unknown) => isOcimountError(e, 'NOT_FOUND'));
  // Loops end with ELOOP.
  fs.symlinkSync('loop2', path.join(rootfsDir, 'loop1'));
  fs.symlinkSync('loop1', path.join(rootfsDir, 'loop2'));
  assert.throws(() => resolveInRootfs(rootfsDir, '/loop1/x'), /too many symlinks/);
});
