// A registry that stops sending mid-body must fail the body (TRUNCATED, so the
// caller resumes) instead of hanging; a consumer that simply reads slowly must
// not be mistaken for one. The stall is injected by a small proxy in front of
// the real registry: it forwards the first 64 KiB of a blob, then holds the
// connection open without a byte more.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRegistry } from '../../src/dev/registry-server';
import { sha256 } from '../../src/dev/image-builder';
import { RegistryRepository } from '../../src/registry/client';
import { pushBigImage, readAll, rejection } from './fixtures';

const IDLE_MS = 300;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('stalled and slow bodies', async (t) => {
  const reg = await startRegistry({ auth: 'none' });
  t.after(() => reg.stop());
  const big = await pushBigImage(reg, 's/big:v1');
  const state: { stall: boolean; onStall?: () => void } = { stall: true };
  const proxy = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: reg.port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${reg.port}` } }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (!state.stall || !/\/(blobs|manifests)\//.test(req.url ?? '')) {
        ures.pipe(res);
        return;
      }
      let sent = 0;
      ures.on('data', (c: Buffer) => {
        const part = c.subarray(0, Math.max(0, 65536 - sent));
        sent += part.length;
        if (part.length) res.write(part, () => sent >= 65536 && state.onStall?.());
      });
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    proxy.closeAllConnections();
    proxy.close(() => r());
  }));
  const host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const repo = new RegistryRepository({ registry: host, apiHost: host, repository: 's/big', retries: 2, backoffMs: 5, idleTimeoutMs: IDLE_MS });

  await t.test('a body that stops arriving is TRUNCATED after the idle time, then resumes', async () => {
    state.stall = true;
    const b = await repo.blob(big.layerDigest);
    const got: Buffer[] = [];
    const e = await rejection(
      (async () => {
        for await (const c of b.stream) got.push(c as Buffer);
      })(),
    );
    assert.equal(e.code, 'TRUNCATED');
    assert.match(e.message, /stopped sending blob .* after 65536 bytes/);
    state.stall = false;
    const rest = await repo.blob(big.layerDigest, { offset: 65536 });
    assert.equal(sha256(Buffer.concat([...got, await readAll(rest.stream)])), big.layerDigest);
  });

  await t.test('an abort while a manifest body is stalled rejects with the abort', async () => {
    state.stall = true;
    const ac = new AbortController();
    state.onStall = () => ac.abort();
    const aborting = new RegistryRepository({ registry: host, apiHost: host, repository: 's/big', retries: 2, backoffMs: 5, signal: ac.signal });
    const e = await rejection(aborting.manifest('v1'));
    state.onStall = undefined;
    assert.equal(e.name, 'AbortError');
  });

  await t.test('a consumer that pauses longer than the idle time is not cut off', async () => {
    state.stall = false;
    const b = await repo.blob(big.layerDigest);
    await sleep(IDLE_MS * 4);
    assert.equal(sha256(await readAll(b.stream)), big.layerDigest);
  });
});
