// `ocimount pull` through the CLI with credentials, against the real registry in
// basic (htpasswd) and bearer-token modes: --username/--password-stdin, a
// DOCKER_CONFIG config.json, a wrong password (one line, no secret, nothing written)
// and no credentials at all.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { miniWeb } from '../../src/dev/image-builder';
import { startRegistry } from '../../src/dev/registry-server';
import type { RegistryAuth } from '../../src/dev/registry-server';
import { makeTmp } from '../helpers/env';
import { assertFailedCleanly, assertNoLeftovers, pullCli, pushImage, sh, tagsOf } from './helpers';

const USERS = { alice: 'wonderland-secret-42' };

for (const mode of ['basic', 'token'] as RegistryAuth[]) {
  test(`pull with ${mode} auth`, async (t) => {
    const reg = await startRegistry({ auth: mode, users: USERS });
    t.after(() => reg.stop());
    const img = await pushImage(reg, miniWeb(), 'team/app:v1');
    const ref = `${reg.host}/team/app:v1`;

    await t.test('--username and --password-stdin', async () => {
      const dir = path.join(makeTmp(`pull-${mode}-flags`), 'l');
      const before = reg.tokenRequests?.length ?? 0;
      const r = await pullCli(['-q', '--username', 'alice', '--password-stdin', ref, dir], { input: `${USERS.alice}\n` });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(tagsOf(dir), { v1: img.manifestDigest });
      assert.equal(JSON.parse(sh(['skopeo', 'inspect', `oci:${dir}:v1`])).Digest, img.manifestDigest);
      if (mode === 'token') {
        const seen = reg.tokenRequests!.slice(before);
        assert.ok(seen.length >= 1 && seen.every((q) => q.user === 'alice'), JSON.stringify(seen));
      }
      assertNoLeftovers(dir);
    });

    await t.test('credentials from $DOCKER_CONFIG/config.json', async () => {
      const base = makeTmp(`pull-${mode}-config`);
      const cfgDir = path.join(base, 'docker');
      fs.mkdirSync(cfgDir);
      const auth = Buffer.from(`alice:${USERS.alice}`).toString('base64');
      fs.writeFileSync(path.join(cfgDir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
      const dir = path.join(base, 'l');
      const r = await pullCli(['-q', ref, dir], { env: { DOCKER_CONFIG: cfgDir } });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(tagsOf(dir), { v1: img.manifestDigest });
    });

    await t.test('a wrong password: UNAUTHORIZED in one line, the secret never shown, nothing written', async () => {
      const dir = path.join(makeTmp(`pull-${mode}-wrong`), 'l');
      const r = await pullCli(['--username', 'alice', '--password-stdin', ref, dir], { input: 'not-the-password\n' });
      assertFailedCleanly(r, dir, new RegExp(`^ocimount: .*${reg.host.replace(/\./g, '\\.')}.*rejected the credentials \\(user alice`));
      assert.ok(!r.stderr.includes('not-the-password'));
      // nothing at all: the layout the pull would have created is gone
      assert.equal(fs.existsSync(dir), false);
    });

    await t.test('no credentials at all: UNAUTHORIZED saying so', async () => {
      const dir = path.join(makeTmp(`pull-${mode}-anon`), 'l');
      const r = await pullCli([ref, dir]);
      assertFailedCleanly(r, dir, /requires authentication and no credentials were found/);
    });

    await t.test('--username without --password-stdin is a usage error', async () => {
      const r = await pullCli(['--username', 'alice', ref, path.join(makeTmp('pull-usage'), 'l')]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /--username needs --password-stdin/);
    });
  });
}
