// An in-process proxy in front of the real test registry, only for faults the
// real one cannot produce on demand: 429 with Retry-After, 5xx, truncated bodies,
// connection resets and cross-host redirects. Everything else passes through to
// the registry unchanged. Redirected blobs are served by a second listener on
// another loopback address (127.0.0.2) straight from the registry's storage, as a
// CDN would, and every request it sees is logged (to prove Authorization was dropped).
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from './registry-server';

export type FaultAction =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Send the upstream headers, then only this many body bytes, then cut the connection. */
  | { kind: 'truncate'; afterBytes: number }
  /** Destroy the socket without answering. */
  | { kind: 'reset' }
  /** 307 to the second listener (another host), which serves the blob from storage. */
  | { kind: 'redirect' };

export interface Fault {
  method?: string;
  /** Matched against the request path (with query). */
  path: RegExp;
  /** How many matching requests get the fault (default 1; Infinity for always). */
  times?: number;
  action: FaultAction;
}

export interface LoggedRequest {
  listener: 'front' | 'redirect';
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The fault applied, if any. */
  fault?: FaultAction['kind'];
}

export interface FaultServer {
  /** "127.0.0.1:PORT": use it in place of the registry's host. */
  host: string;
  /** "127.0.0.2:PORT": the redirect target. */
  altHost: string;
  faults: Fault[];
  requests: LoggedRequest[];
  stop(): Promise<void>;
}

function listen(server: http.Server, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startFaultServer(upstream: Pick<Registry, 'port' | 'blobDataPath'>, faults: Fault[] = []): Promise<FaultServer> {
  const requests: LoggedRequest[] = [];
  const state = { faults };
  const used = new Map<Fault, number>();

  const pick = (req: http.IncomingMessage): Fault | undefined =>
    state.faults.find((f) => (!f.method || f.method === req.method) && f.path.test(req.url ?? '') && (used.get(f) ?? 0) < (f.times ?? 1));

  const alt = http.createServer((req, res) => {
    requests.push({ listener: 'redirect', method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    const m = /\/blobs\/sha256\/([0-9a-f]{64})/.exec(req.url ?? '');
    const file = m ? upstream.blobDataPath(`sha256:${m[1]}`) : '';
    if (!m || !fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const size = fs.statSync(file).size;
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const start = range ? Number(range[1]) : 0;
    res.writeHead(range ? 206 : 200, {
      'content-length': String(size - start),
      'content-type': 'application/octet-stream',
      ...(range ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}),
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file, { start }).pipe(res);
  });
  const altPort = await listen(alt, '127.0.0.2');
  const altHost = `127.0.0.2:${altPort}`;

  const front = http.createServer((req, res) => {
    const fault = pick(req);
    if (fault) used.set(fault, (used.get(fault) ?? 0) + 1);
    requests.push({ listener: 'front', method: req.method ?? '', path: req.url ?? '', headers: req.headers, fault: fault?.action.kind });
    const action = fault?.action;
    if (action?.kind === 'status') {
      res.writeHead(action.status, { 'content-type': 'application/json', ...(action.headers ?? {}) });
      res.end(action.body ?? JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${action.status}` }] }));
      return;
    }
    if (action?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (action?.kind === 'redirect') {
      const m = /\/blobs\/(sha256:[0-9a-f]{64})/.exec(req.url ?? '');
      res.writeHead(307, { location: `http://${altHost}/cdn/blobs/sha256/${m ? m[1].slice(7) : 'none'}?signature=test` });
      res.end();
      return;
    }
    const headers = { ...req.headers, host: `127.0.0.1:${upstream.port}` };
    const up = http.request({ host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      if (action?.kind !== 'truncate') {
        ures.pipe(res);
        return;
      }
      let left = action.afterBytes;
      ures.on('data', (chunk: Buffer) => {
        if (left <= 0) return;
        const part = chunk.subarray(0, left);
        left -= part.length;
        res.write(part, () => {
          if (left <= 0) {
            ures.destroy();
            res.socket?.destroy();
          }
        });
      });
      // The cut happens in the write callback above, once the budget has gone out; a body
      // shorter than the budget arrives whole (destroying here would race the last write).
      ures.on('end', () => {
        if (left > 0) res.end();
      });
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  const port = await listen(front, '127.0.0.1');

  const close = (s: http.Server): Promise<void> =>
    new Promise((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    });
  return {
    host: `127.0.0.1:${port}`,
    altHost,
    get faults() {
      return state.faults;
    },
    set faults(f: Fault[]) {
      state.faults = f;
    },
    requests,
    stop: async () => {
      await Promise.all([close(front), close(alt)]);
    },
  };
}
