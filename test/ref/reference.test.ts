// Reference parsing must agree with Docker's normalisation, case by case.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { familiarName, formatReference, isLoopbackHost, parseReference } from '../../src/ref';
import { isOcimountError } from '../../src/errors';

const D = 'sha256:' + 'ab'.repeat(32);

const good: [string, string, string][] = [
  // input, full form, API host
  ['alpine', 'docker.io/library/alpine:latest', 'registry-1.docker.io'],
  ['alpine:3.19', 'docker.io/library/alpine:3.19', 'registry-1.docker.io'],
  ['library/alpine', 'docker.io/library/alpine:latest', 'registry-1.docker.io'],
  ['docker.io/alpine', 'docker.io/library/alpine:latest', 'registry-1.docker.io'],
  ['index.docker.io/alpine:edge', 'docker.io/library/alpine:edge', 'registry-1.docker.io'],
  ['index.docker.io/user/app', 'docker.io/user/app:latest', 'registry-1.docker.io'],
  ['user/app:1.0', 'docker.io/user/app:1.0', 'registry-1.docker.io'],
  ['user/team/app', 'docker.io/user/team/app:latest', 'registry-1.docker.io'],
  ['localhost/app', 'localhost/app:latest', 'localhost'],
  ['localhost:5000/app:v1', 'localhost:5000/app:v1', 'localhost:5000'],
  ['127.0.0.1:5000/mini-web:v1', '127.0.0.1:5000/mini-web:v1', '127.0.0.1:5000'],
  ['host:5000/ns/name:tag', 'host:5000/ns/name:tag', 'host:5000'],
  ['ghcr.io/owner/repo', 'ghcr.io/owner/repo:latest', 'ghcr.io'],
  ['quay.io/a/b/c/d:x_y-z.1', 'quay.io/a/b/c/d:x_y-z.1', 'quay.io'],
  ['Registry.Example.COM/app', 'Registry.Example.COM/app:latest', 'Registry.Example.COM'],
  ['Foo/bar', 'Foo/bar:latest', 'Foo'],
  [`alpine@${D}`, `docker.io/library/alpine@${D}`, 'registry-1.docker.io'],
  [`alpine:3@${D}`, `docker.io/library/alpine:3@${D}`, 'registry-1.docker.io'],
  [`host:5000/x/y:t@${D}`, `host:5000/x/y:t@${D}`, 'host:5000'],
  [`host:5000/x/y@${D}`, `host:5000/x/y@${D}`, 'host:5000'],
  ['a__b/c--d/e.f_g', 'docker.io/a__b/c--d/e.f_g:latest', 'registry-1.docker.io'],
  ['[::1]:5000/app:v', '[::1]:5000/app:v', '[::1]:5000'],
  ['my-registry.local:443/app', 'my-registry.local:443/app:latest', 'my-registry.local:443'],
];

for (const [input, full, api] of good) {
  test(`parses ${input}`, () => {
    const r = parseReference(input);
    assert.equal(formatReference(r), full);
    assert.equal(r.apiHost, api);
  });
}

test('digest-only references carry no default tag', () => {
  const r = parseReference(`alpine@${D}`);
  assert.equal(r.tag, undefined);
  assert.equal(r.digest, D);
  assert.equal(r.repository, 'library/alpine');
});

test('familiar names drop docker.io/library', () => {
  assert.equal(familiarName(parseReference('alpine')), 'alpine:latest');
  assert.equal(familiarName(parseReference('docker.io/user/app:1')), 'user/app:1');
  assert.equal(familiarName(parseReference('localhost:5000/library/app')), 'localhost:5000/library/app:latest');
});

const bad: [string, RegExp][] = [
  ['', /empty/],
  ['   ', /empty/],
  ['ALPINE', /lowercase/],
  ['docker.io/User/App', /lowercase/],
  ['alpine:', /not a valid tag/],
  ['alpine:-x', /not a valid tag/],
  ['alpine:' + 'a'.repeat(129), /not a valid tag/],
  ['alpine:ta/g', /not a valid registry host/],
  ['alpine@sha256:1234', /not a digest|not a sha256/],
  ['alpine@sha256:' + 'AB'.repeat(32), /not a sha256 digest/],
  ['alpine@', /not a digest/],
  ['host:5000/', /repository name is missing/],
  [':tag', /repository name is missing/],
  ['a//b', /not a valid repository name/],
  ['a/b/', /not a valid repository name/],
  ['-a/b', /not a valid repository name/],
  ['a_/b', /not a valid repository name/],
  ['a b', /whitespace/],
  ['https://host/app', /URL scheme/],
  ['host-:5000/app', /not a valid registry host/],
  ['x.io/' + 'a'.repeat(260), /longer than 255/],
];

for (const [input, why] of bad) {
  test(`rejects ${JSON.stringify(input.slice(0, 40))}`, () => {
    assert.throws(
      () => parseReference(input),
      (e: unknown) => isOcimountError(e, 'USAGE') && why.test(e.message) && e.message.includes('invalid image reference'),
    );
  });
}

test('non-sha256 digests are unsupported, not malformed', () => {
  assert.throws(() => parseReference('alpine@sha512:' + 'a'.repeat(128)), (e: unknown) => isOcimountError(e, 'UNSUPPORTED'));
});

test('loopback detection', () => {
  for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.0.0.2', '[::1]:5000', 'foo.localhost:1']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['docker.io', '10.0.0.1:5000', 'registry-1.docker.io', '128.0.0.1', 'localhost.example.com']) assert.equal(isLoopbackHost(h), false, h);
});

test('a port outside 1-65535 is a usage error naming the port', () => {
  for (const [input, port] of [['127.0.0.1:99999/x:y', '99999'], ['localhost:0/x', '0']]) {
    assert.throws(() => parseReference(input), (e: unknown) => isOcimountError(e, 'USAGE') && (e as Error).message.includes(`port ${port} is not a TCP port`), input);
  }
  assert.equal(parseReference('localhost:65535/x').registry, 'localhost:65535');
});
