// The keychain reads the same files Docker and podman read, and runs real
// credential-helper executables (small shell scripts on PATH).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { configFileKeychain, credentialFiles, defaultKeychain, describeCredential, staticKeychain } from '../../src/auth';
import { isOcimountError } from '../../src/errors';
import { makeTmp } from '../helpers/env';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function writeJson(file: string, v: unknown): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(v));
  return file;
}

test('auths: base64 auth, username/password, identitytoken and scheme/path-decorated keys', async () => {
  const dir = makeTmp('kc');
  const file = writeJson(path.join(dir, 'config.json'), {
    auths: {
      'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
      'reg.example.com:5000': { username: 'u2', password: 'p2' },
      'http://other.example.com/v2/': { auth: b64('u3:p3') },
      'token.example.com': { auth: b64('tu:'), identitytoken: 'refresh-xyz' },
    },
  });
  const kc = configFileKeychain(file);
  assert.deepEqual(await kc.resolve('docker.io'), { kind: 'basic', username: 'hubuser', password: 'hub:pass' });
  assert.deepEqual(await kc.resolve('registry-1.docker.io'), { kind: 'basic', username: 'hubuser', password: 'hub:pass' });
  assert.deepEqual(await kc.resolve('reg.example.com:5000'), { kind: 'basic', username: 'u2', password: 'p2' });
  assert.equal(await kc.resolve('reg.example.com'), undefined, 'port is part of the registry name');
  assert.deepEqual(await kc.resolve('other.example.com'), { kind: 'basic', username: 'u3', password: 'p3' });
  assert.deepEqual(await kc.resolve('token.example.com'), { kind: 'identityToken', username: 'tu', token: 'refresh-xyz' });
  assert.equal(await kc.resolve('unknown.example.com'), undefined);
});

test('containers auth.json: the most specific repository key wins', async () => {
  const dir = makeTmp('kc');
  const file = writeJson(path.join(dir, 'auth.json'), {
    auths: {
      'quay.io': { auth: b64('org:1') },
      'quay.io/team': { auth: b64('team:2') },
      'quay.io/team/app': { auth: b64('app:3') },
    },
  });
  const kc = configFileKeychain(file);
  assert.equal(((await kc.resolve('quay.io', 'team/app')) as { username: string }).username, 'app');
  assert.equal(((await kc.resolve('quay.io', 'team/other')) as { username: string }).username, 'team');
  assert.equal(((await kc.resolve('quay.io', 'teamx/app')) as { username: string }).username, 'org');
  assert.equal(((await kc.resolve('quay.io')) as { username: string }).username, 'org');
});

function helper(dir: string, name: string, script: string): void {
  const bin = path.join(dir, `docker-credential-${name}`);
  fs.writeFileSync(bin, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
}

test('credHelpers and credsStore run docker-credential-NAME get with the server URL on stdin', async () => {
  const dir = makeTmp('kc');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  const log = path.join(dir, 'helper.log');
  helper(bin, 'pass', `read url; echo "$1 $url" >> ${log}; echo '{"ServerURL":"'$url'","Username":"hu","Secret":"hs"}'`);
  helper(bin, 'store', `read url; echo "store $url" >> ${log}; case "$url" in *mine*) echo '{"Username":"<token>","Secret":"idt"}';; *) echo "credentials not found in native keychain"; exit 1;; esac`);
  const file = writeJson(path.join(dir, 'config.json'), {
    auths: { 'plain.example.com': { auth: b64('pu:pp') } },
    credHelpers: { 'helped.example.com': 'pass', 'docker.io': 'pass' },
    credsStore: 'store',
  });
  const oldPath = process.env.PATH;
  process.env.PATH = `${bin}:${oldPath}`;
  try {
    const kc = configFileKeychain(file);
    assert.deepEqual(await kc.resolve('helped.example.com'), { kind: 'basic', username: 'hu', password: 'hs' });
    assert.deepEqual(await kc.resolve('docker.io'), { kind: 'basic', username: 'hu', password: 'hs' });
    assert.deepEqual(await kc.resolve('plain.example.com'), { kind: 'basic', username: 'pu', password: 'pp' });
    assert.deepEqual(await kc.resolve('mine.example.com'), { kind: 'identityToken', token: 'idt' });
    assert.equal(await kc.resolve('nobody.example.com'), undefined);
    assert.deepEqual(fs.readFileSync(log, 'utf8').trim().split('\n'), [
      'get helped.example.com',
      'get https://index.docker.io/v1/',
      'store mine.example.com',
      'store nobody.example.com',
    ]);
  } finally {
    process.env.PATH = oldPath;
  }
});

test('a configured helper that is not installed is a clear error', async () => {
  const dir = makeTmp('kc');
  const file = writeJson(path.join(dir, 'config.json'), { credHelpers: { 'x.example.com': 'does-not-exist-ocimount' } });
  await assert.rejects(configFileKeychain(file).resolve('x.example.com'), (e: unknown) =>
    isOcimountError(e, 'UNAUTHORIZED') && /docker-credential-does-not-exist-ocimount .*not installed/.test(e.message));
});

test('search order: REGISTRY_AUTH_FILE, DOCKER_CONFIG, XDG_RUNTIME_DIR, ~/.config', async () => {
  const dir = makeTmp('kc');
  const env = {
    HOME: path.join(dir, 'home'),
    DOCKER_CONFIG: path.join(dir, 'dockercfg'),
    REGISTRY_AUTH_FILE: path.join(dir, 'explicit.json'),
    XDG_RUNTIME_DIR: path.join(dir, 'run'),
  };
  assert.deepEqual(credentialFiles({ env }), [
    env.REGISTRY_AUTH_FILE,
    path.join(env.DOCKER_CONFIG, 'config.json'),
    path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'),
    path.join(env.HOME, '.config', 'containers', 'auth.json'),
  ]);
  writeJson(path.join(env.HOME, '.config', 'containers', 'auth.json'), { auths: { a: { auth: b64('home:1') }, b: { auth: b64('home:2') }, c: { auth: b64('home:3') } } });
  writeJson(path.join(env.DOCKER_CONFIG, 'config.json'), { auths: { a: { auth: b64('docker:1') }, b: { auth: b64('docker:2') } } });
  writeJson(env.REGISTRY_AUTH_FILE, { auths: { a: { auth: b64('explicit:1') } } });
  const kc = defaultKeychain({ env });
  assert.equal(((await kc.resolve('a')) as { username: string }).username, 'explicit');
  assert.equal(((await kc.resolve('b')) as { username: string }).username, 'docker');
  assert.equal(((await kc.resolve('c')) as { username: string }).username, 'home');
  assert.equal(await kc.resolve('d'), undefined);
  // Without DOCKER_CONFIG, ~/.docker/config.json is read.
  writeJson(path.join(env.HOME, '.docker', 'config.json'), { auths: { d: { username: 'dot', password: 'x' } } });
  const kc2 = defaultKeychain({ env: { HOME: env.HOME } });
  assert.equal(((await kc2.resolve('d')) as { username: string }).username, 'dot');
});

test('malformed files fail clearly and never echo secrets', async () => {
  const dir = makeTmp('kc');
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{"auths": {"x": {"auth": "c2VjcmV0LXBhc3N3b3Jk"}}}');
  await assert.rejects(configFileKeychain(bad).resolve('x'), (e: unknown) => isOcimountError(e) && /malformed "auth"/.test(e.message) && !e.message.includes('secret-password'));
  fs.writeFileSync(bad, '{not json');
  await assert.rejects(configFileKeychain(bad).resolve('x'), /not valid JSON/);
  assert.equal(describeCredential({ kind: 'basic', username: 'u', password: 'hunter2' }), 'user u');
});

test('static keychain answers only for its registry', async () => {
  const kc = staticKeychain({ kind: 'basic', username: 'u', password: 'p' }, '127.0.0.1:5000');
  assert.ok(await kc.resolve('127.0.0.1:5000'));
  assert.equal(await kc.resolve('127.0.0.1:5001'), undefined);
});
