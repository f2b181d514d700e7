// A real registry for tests, benchmarks and the demo: Debian's `docker-registry`
// (CNCF distribution 2.8) on 127.0.0.1 with its own config and storage in a temp
// dir, started and stopped by pid. Auth modes: none, basic (htpasswd, bcrypt)
// and token (our token server, JWTs the registry verifies). Optional TLS with a
// self-signed CA. Fixtures are pushed with skopeo.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { startTokenServer } from './token-server';
import type { TokenRequestLog, TokenServer } from './token-server';

const execFileP = promisify(execFile);

export type RegistryAuth = 'none' | 'basic' | 'token';

export interface RegistryOptions {
  auth?: RegistryAuth;
  /** username → password (basic and token modes). */
  users?: Record<string, string>;
  /** Token mode with users: anonymous clients may still pull. */
  anonymousPull?: boolean;
  /** Token mode: Docker identity tokens (refresh tokens) → username. */
  identityTokens?: Record<string, string>;
  /** Token lifetime in seconds (token mode). */
  tokenTtl?: number;
  /** Serve HTTPS with a certificate from a fresh self-signed CA (see caFile). */
  tls?: boolean;
  /** Parent directory for config and storage (default: $OCIMOUNT_TEST_TMP or the OS temp dir). */
  parentDir?: string;
}

export interface Creds {
  username: string;
  password: string;
}

export interface Registry {
  /** "127.0.0.1:PORT": what goes in front of image names. */
  host: string;
  port: number;
  pid: number;
  auth: RegistryAuth;
  /** Config, keys and storage live here; removed by stop(). */
  dir: string;
  /** The registry's filesystem storage root. */
  storageDir: string;
  /** CA certificate (PEM file) to trust when tls is on. */
  caFile?: string;
  /** Credentials that may push anything (basic and token modes). */
  admin?: Creds;
  /** Token mode: every token request seen, for asserting the flow. */
  tokenRequests?: TokenRequestLog[];
  tokenRealm?: string;
  /** Where the registry keeps a blob's bytes (tests corrupt it to prove verification). */
  blobDataPath(digest: string): string;
  /** Copies layoutDir:layoutTag (all platforms) to HOST/repoAndTag with skopeo. */
  push(layoutDir: string, layoutTag: string, repoAndTag: string, creds?: Creds): Promise<void>;
  stop(): Promise<void>;
}

const REGISTRY_BIN = process.env.OCIMOUNT_REGISTRY_BIN ?? '/usr/bin/docker-registry';
const ADMIN_USER = 'ocimount-admin';

/** A TCP port that was free a moment ago (the registry binds it next). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
/** A crashed test must not leave registries running: kill our children (by pid) at exit. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) if (c.pid) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  });
}

async function htpasswdLine(user: string, pass: string): Promise<string> {
  const { stdout } = await execFileP('htpasswd', ['-nbB', '-C', '4', user, pass]);
  return stdout.trim();
}

/** A self-signed CA and a server certificate for 127.0.0.1/localhost signed by it. */
async function makeTls(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caKey = path.join(dir, 'ca.key');
  const caFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const certFile = path.join(dir, 'server.pem');
  const ext = path.join(dir, 'server.ext');
  fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await execFileP('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=ocimount test CA']);
  await execFileP('openssl', ['req', '-new', ...ec, '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await execFileP('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
  return { caFile, certFile, keyFile };
}

function waitForRegistry(child: ChildProcess, port: number, tls: boolean, logFile: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  return new Promise((resolve, reject) => {
    let exited = false;
    child.once('exit', (code) => {
      exited = true;
      reject(new Error(`docker-registry exited (${code}) before answering: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`));
    });
    const attempt = (): void => {
      if (exited) return;
      // Any HTTP answer (200, 401) means it is serving; with TLS the plain request gets a 400.
      const req = http.get({ host: '127.0.0.1', port, path: '/v2/', timeout: 500 }, (res) => {
        res.resume();
        void tls;
        resolve();
      });
      req.on('error', () => {
        if (Date.now() > deadline) reject(new Error('docker-registry did not start within 15s'));
        else setTimeout(attempt, 15);
      });
    };
    attempt();
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  installExitHook();
  const auth = opts.auth ?? 'none';
  const parent = opts.parentDir ?? process.env.OCIMOUNT_TEST_TMP ?? os.tmpdir();
  const dir = fs.mkdtempSync(path.join(parent, 'registry-'));
  const storageDir = path.join(dir, 'storage');
  fs.mkdirSync(storageDir);
  const port = await freePort();
  const admin: Creds | undefined = auth === 'none' ? undefined : { username: ADMIN_USER, password: randomBytes(12).toString('hex') };
  const users = { ...(opts.users ?? {}), ...(admin ? { [admin.username]: admin.password } : {}) };

  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog: {disabled: true}',
    'storage:',
    `  filesystem: {rootdirectory: ${JSON.stringify(storageDir)}}`,
    '  delete: {enabled: true}',
    '  maintenance: {uploadpurging: {enabled: false}}',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  let caFile: string | undefined;
  if (opts.tls) {
    const t = await makeTls(dir);
    caFile = t.caFile;
    lines.push('  tls:', `    certificate: ${JSON.stringify(t.certFile)}`, `    key: ${JSON.stringify(t.keyFile)}`);
  }
  let tokenServer: TokenServer | undefined;
  if (auth === 'basic') {
    const file = path.join(dir, 'htpasswd');
    const entries = await Promise.all(Object.entries(users).map(([u, p]) => htpasswdLine(u, p)));
    fs.writeFileSync(file, entries.join('\n') + '\n');
    lines.push('auth:', '  htpasswd:', '    realm: ocimount-test', `    path: ${JSON.stringify(file)}`);
  } else if (auth === 'token') {
    const keyFile = path.join(dir, 'token.key');
    const certFile = path.join(dir, 'token.pem');
    await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=ocimount token signer']);
    const service = 'ocimount-test-registry';
    const issuer = 'ocimount-test-token-server';
    tokenServer = await startTokenServer({
      service,
      issuer,
      keyPem: fs.readFileSync(keyFile, 'utf8'),
      certPem: fs.readFileSync(certFile, 'utf8'),
      users,
      anonymousPull: opts.anonymousPull,
      identityTokens: opts.identityTokens,
      ttl: opts.tokenTtl,
    });
    lines.push('auth:', '  token:', `    realm: ${tokenServer.realm}`, `    service: ${service}`, `    issuer: ${issuer}`, `    rootcertbundle: ${JSON.stringify(certFile)}`);
  }
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(configFile, lines.join('\n') + '\n');

  const logFile = path.join(dir, 'registry.log');
  const logFd = fs.openSync(logFile, 'a');
  const child = spawn(REGISTRY_BIN, ['serve', configFile], { stdio: ['ignore', logFd, logFd], detached: false });
  fs.closeSync(logFd);
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForRegistry(child, port, !!opts.tls, logFile);
  } catch (e) {
    if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
    live.delete(child);
    await tokenServer?.stop();
    throw e;
  }
  const host = `127.0.0.1:${port}`;
  let stopped = false;

  return {
    host,
    port,
    pid: child.pid!,
    auth,
    dir,
    storageDir,
    caFile,
    admin,
    tokenRequests: tokenServer?.requests,
    tokenRealm: tokenServer?.realm,
    blobDataPath(digest: string): string {
      const hex = digest.replace(/^sha256:/, '');
      return path.join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    async push(layoutDir, layoutTag, repoAndTag, creds) {
      const c = creds ?? admin;
      const args = ['copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false'];
      if (c) args.push('--dest-creds', `${c.username}:${c.password}`);
      args.push(`oci:${layoutDir}:${layoutTag}`, `docker://${host}/${repoAndTag}`);
      try {
        await execFileP('skopeo', args, { maxBuffer: 16 << 20 });
      } catch (e) {
        const err = e as { stderr?: string; message: string };
        throw new Error(`skopeo copy to ${host}/${repoAndTag} failed: ${(err.stderr || err.message).trim()}`);
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        process.kill(child.pid, 'SIGTERM');
        const t = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      live.delete(child);
      await tokenServer?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
