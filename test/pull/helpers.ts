// Shared plumbing for pull tests: fixtures pushed to the real registry, the CLI
// run with a clean credential environment, and the "nothing half-done left" check.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { writeImage } from '../../src/dev/image-builder';
import type { ImageSpec, WrittenImage } from '../../src/dev/image-builder';
import type { Creds, Registry } from '../../src/dev/registry-server';
import { REF_NAME_ANNOTATION } from '../../src/image/types';
import type { Index } from '../../src/image/types';
import { makeTmp, ocimount } from '../helpers/env';
import type { RunOptions, RunResult } from '../helpers/env';

/** Writes spec as a layout and pushes it to the registry as repoAndTag. */
export async function pushImage(reg: Registry, spec: ImageSpec, repoAndTag: string, creds?: Creds): Promise<WrittenImage & { layout: string }> {
  const layout = path.join(makeTmp('pullfix'), 'l');
  const img = writeImage(layout, spec, { tag: 't' });
  await reg.push(layout, 't', repoAndTag, creds);
  return { ...img, layout };
}

/** No credentials from the machine leak into a test: HOME and the config locations point nowhere. */
export const NO_CREDS_ENV: Record<string, string | undefined> = {
  HOME: '/nonexistent',
  DOCKER_CONFIG: '/nonexistent/docker',
  REGISTRY_AUTH_FILE: undefined,
  XDG_RUNTIME_DIR: undefined,
  XDG_CONFIG_HOME: '/nonexistent/config',
};

export function pullCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return ocimount(['pull', ...args], { ...opts, env: { ...NO_CREDS_ENV, ...(opts.env ?? {}) } });
}

export function readIndexJson(dir: string): Index {
  return JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as Index;
}

export function tagsOf(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of readIndexJson(dir).manifests) out[m.annotations?.[REF_NAME_ANNOTATION] ?? `(untagged ${m.digest})`] = m.digest;
  return out;
}

export function blobNames(dir: string): string[] {
  const d = path.join(dir, 'blobs', 'sha256');
  return fs.existsSync(d) ? fs.readdirSync(d).sort() : [];
}

/** No temp file, no lock file, nothing but the layout's own files. */
export function assertNoLeftovers(dir: string): void {
  assert.deepEqual(blobNames(dir).filter((n) => !/^[0-9a-f]{64}$/.test(n)), [], 'temp files left in blobs/sha256');
  for (const n of fs.readdirSync(dir)) assert.ok(['blobs', 'index.json', 'oci-layout'].includes(n), `unexpected ${n} in ${dir}`);
}

/** A failed pull into a fresh layout: exit 1, one message line, an empty index and no untrusted files. */
export function assertFailedCleanly(r: RunResult, dir: string, message: RegExp): void {
  assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('ocimount:'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], message);
  assert.equal(r.stdout, '');
  if (fs.existsSync(path.join(dir, 'index.json'))) {
    assert.deepEqual(readIndexJson(dir).manifests, []);
    assertNoLeftovers(dir);
  }
}

export function sh(argv: string[]): string {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 0, `${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A pass-through proxy that slows blob bodies to ~1 MB/s, so a pull can be interrupted mid-blob. */
export async function slowProxy(reg: Pick<Registry, 'port' | 'host'>, bytesPerMs = 1000): Promise<{ host: string; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: reg.port, method: req.method, path: req.url, headers: { ...req.headers, host: reg.host } }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (!req.url?.includes('/blobs/')) {
        ures.pipe(res);
        return;
      }
      ures.on('data', (c: Buffer) => {
        ures.pause();
        res.write(c);
        setTimeout(() => ures.resume(), Math.ceil(c.length / bytesPerMs));
      });
      ures.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
