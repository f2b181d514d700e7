// The registry client's pure helpers: challenges, Retry-After, backoff,
// Content-Range, manifest judgement and references, URL redaction.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseChallenges } from '../../src/registry/challenge';
import { networkError, parseRetryAfter, redactUrl } from '../../src/registry/errors';
import { backoffDelay, MAX_BACKOFF_MS } from '../../src/registry/backoff';
import { parseContentRange } from '../../src/registry/client';
import { judgeManifest, parseManifestReference, sha256Digest } from '../../src/registry/manifest';
import { tokenExpiry } from '../../src/registry/token';
import { registryApiHost } from '../../src/registry';
import { isOcimountError } from '../../src/errors';
import { MediaType } from '../../src/image/types';

test('WWW-Authenticate: several challenges, quoted commas and escapes', () => {
  const cs = parseChallenges('Basic realm="x", Bearer realm="https://auth.example/token?a=1,b=2",service="reg \\"one\\"",scope=repository:a/b:pull,error="insufficient_scope"');
  assert.equal(cs.length, 2);
  assert.deepEqual(cs[0], { scheme: 'basic', params: { realm: 'x' } });
  assert.equal(cs[1].scheme, 'bearer');
  assert.equal(cs[1].params.realm, 'https://auth.example/token?a=1,b=2');
  assert.equal(cs[1].params.service, 'reg "one"');
  assert.equal(cs[1].params.scope, 'repository:a/b:pull');
  assert.equal(cs[1].params.error, 'insufficient_scope');
});

test('Retry-After: seconds, HTTP dates, garbage', () => {
  assert.equal(parseRetryAfter('7'), 7000);
  const future = new Date(Date.now() + 30_000).toUTCString();
  const ms = parseRetryAfter(future)!;
  assert.ok(ms > 20_000 && ms <= 30_000, String(ms));
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
});

test('backoff doubles within jitter bounds and is capped', () => {
  assert.equal(backoffDelay(0, 100, () => 0), 50);
  assert.equal(backoffDelay(0, 100, () => 1), 100);
  assert.equal(backoffDelay(3, 100, () => 1), 800);
  assert.equal(backoffDelay(30, 100, () => 1), MAX_BACKOFF_MS);
});

test('token expiry keeps a margin, at most 10s', () => {
  assert.equal(tokenExpiry(0, 2), 1800);
  assert.equal(tokenExpiry(0, 300), 290_000);
});

test('Content-Range', () => {
  assert.deepEqual(parseContentRange('bytes 100-199/200'), { start: 100, total: 200 });
  assert.deepEqual(parseContentRange('bytes 5-9/*'), { start: 5, total: undefined });
  assert.equal(parseContentRange('items 1-2/3'), undefined);
  assert.equal(parseContentRange(undefined), undefined);
});

test('manifest references: tags and sha256 digests only', () => {
  assert.deepEqual(parseManifestReference('v1.2-rc'), { kind: 'tag', tag: 'v1.2-rc' });
  const d = 'sha256:' + 'ab'.repeat(32);
  assert.deepEqual(parseManifestReference(d), { kind: 'digest', digest: d });
  assert.throws(() => parseManifestReference('sha512:' + 'a'.repeat(128)), (e) => isOcimountError(e, 'UNSUPPORTED'));
  assert.throws(() => parseManifestReference('sha256:ABC'), (e) => isOcimountError(e, 'USAGE'));
  assert.throws(() => parseManifestReference('../etc'), (e) => isOcimountError(e, 'USAGE'));
});

test('manifest judgement: media type sources, schema1, digests', () => {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config: {}, layers: [] }));
  const base = { what: 'manifest x:y', registry: 'r', reference: { kind: 'tag' as const, tag: 'y' } };
  assert.equal(judgeManifest(body, { ...base, contentType: `${MediaType.OciManifest}; charset=utf-8` }).mediaType, MediaType.OciManifest);
  assert.equal(judgeManifest(body, { ...base, contentType: 'application/json' }).mediaType, MediaType.DockerManifest);
  const bare = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
  assert.equal(judgeManifest(bare, base).mediaType, MediaType.OciIndex);
  assert.throws(() => judgeManifest(Buffer.from('{"schemaVersion":2}'), base), (e) => isOcimountError(e, 'PROTOCOL'));
  assert.throws(() => judgeManifest(Buffer.from('<html>'), base), (e) => isOcimountError(e, 'PROTOCOL'));
  assert.throws(() => judgeManifest(Buffer.from('{"schemaVersion":1}'), base), (e) => isOcimountError(e, 'UNSUPPORTED') && /schema1/.test(e.message));
  assert.throws(() => judgeManifest(body, { ...base, contentType: MediaType.DockerManifestSchema1 }), (e) => isOcimountError(e, 'UNSUPPORTED'));
  const digest = sha256Digest(body);
  assert.equal(judgeManifest(body, { ...base, reference: { kind: 'digest', digest } }).digest, digest);
  assert.throws(
    () => judgeManifest(body, { ...base, reference: { kind: 'digest', digest: 'sha256:' + '0'.repeat(64) } }),
    (e) => isOcimountError(e, 'DIGEST_MISMATCH'),
  );
  assert.throws(() => judgeManifest(body, { ...base, claimedDigest: 'sha256:' + '1'.repeat(64) }), (e) => isOcimountError(e, 'DIGEST_MISMATCH'));
});

test('redacted URLs keep no userinfo or query', () => {
  assert.equal(redactUrl('https://u:p@cdn.example/blob?X-Amz-Signature=s3cr3t'), 'https://cdn.example/blob?…');
});

test('docker.io is served by registry-1.docker.io', () => {
  assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryApiHost('127.0.0.1:5000'), '127.0.0.1:5000');
});

test('network errors: untrusted certificates and plain-HTTP ports are permanent, resets are not', () => {
  const mk = (code: string, message: string) => Object.assign(new Error(message), { code });
  const cert = networkError(mk('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'), 'https://r.example/v2/', 'r.example');
  assert.equal(cert.details.permanent, true);
  assert.equal(cert.details.tls, 'untrusted');
  assert.match(cert.message, /not trusted .*--insecure/);
  const plain = networkError(mk('EPROTO', 'write EPROTO ...:SSL routines:ssl3_get_record:wrong version number:...'), 'https://r.example/v2/', 'r.example');
  assert.equal(plain.details.permanent, true);
  assert.match(plain.message, /does not speak TLS .*--insecure/);
  const reset = networkError(mk('ECONNRESET', 'socket hang up'), 'https://r.example/v2/', 'r.example');
  assert.equal(reset.details.permanent, undefined);
  assert.equal(reset.temporary, true);
});
