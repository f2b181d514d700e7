// Keychain: registry (and repository) → credentials. Sources: explicit
// username/password, Docker's config.json (auths, credHelpers, credsStore) and
// containers' auth.json. No HTTP here; the registry client asks a keychain and
// never knows where the secret came from. Secrets never appear in messages.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { debuglog } from 'node:util';
import { OcimountError } from '../errors';

const debug = debuglog('ocimount:auth');

export type Credential =
  | { kind: 'basic'; username: string; password: string }
  /** Docker's "identitytoken": an OAuth2 refresh token exchanged at the token endpoint. */
  | { kind: 'identityToken'; username?: string; token: string }
  /** A bearer token to send as is ("registrytoken"). */
  | { kind: 'registryToken'; token: string };

export interface Keychain {
  /** Credentials for a registry ("docker.io", "127.0.0.1:5000"), or undefined for anonymous. */
  resolve(registry: string, repository?: string): Promise<Credential | undefined>;
}

export const anonymous: Keychain = { resolve: async () => undefined };

/** Fixed credentials for one registry (or for every registry when `registry` is omitted). */
export function staticKeychain(cred: Credential, registry?: string): Keychain {
  return { resolve: async (r) => (registry === undefined || sameRegistry(r, registry) ? cred : undefined) };
}

/** The first keychain with an answer wins. */
export function multiKeychain(...chains: Keychain[]): Keychain {
  return {
    async resolve(registry, repository) {
      for (const k of chains) {
        const c = await k.resolve(registry, repository);
        if (c) return c;
      }
      return undefined;
    },
  };
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

function normaliseKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//i, '');
  if (k.endsWith('/')) k = k.slice(0, -1);
  if (k === 'index.docker.io/v1' || k.startsWith('index.docker.io/v1/')) return 'docker.io';
  if (/\/v[12]$/.test(k)) k = k.replace(/\/v[12]$/, '');
  return k;
}

function sameRegistry(a: string, b: string): boolean {
  const na = normaliseKey(a).split('/')[0];
  const nb = normaliseKey(b).split('/')[0];
  return na === nb || (HUB_ALIASES.has(na) && HUB_ALIASES.has(nb));
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function readConfig(file: string): ConfigFile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new OcimountError('UNAUTHORIZED', `cannot read credentials file ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as ConfigFile;
  } catch {
    throw new OcimountError('UNAUTHORIZED', `credentials file ${file} is not valid JSON`);
  }
}

function entryToCredential(e: AuthEntry, where: string): Credential | undefined {
  if (e.identitytoken) {
    let username: string | undefined = e.username;
    if (!username && e.auth) username = Buffer.from(e.auth, 'base64').toString('utf8').split(':')[0];
    return { kind: 'identityToken', username, token: e.identitytoken };
  }
  if (e.registrytoken) return { kind: 'registryToken', token: e.registrytoken };
  if (e.auth) {
    const raw = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = raw.indexOf(':');
    if (i === -1) throw new OcimountError('UNAUTHORIZED', `malformed "auth" entry in ${where} (expected base64 of user:password)`);
    return { kind: 'basic', username: raw.slice(0, i), password: raw.slice(i + 1) };
  }
  if (e.username && e.password !== undefined) return { kind: 'basic', username: e.username, password: e.password };
  return undefined;
}

/** The `auths` entry for a registry/repository: the most specific key (containers allow "host/ns/repo"). */
function findEntry(auths: Record<string, AuthEntry>, registry: string, repository?: string): AuthEntry | undefined {
  const full = repository ? `${registry}/${repository}` : registry;
  let best: { len: number; entry: AuthEntry } | undefined;
  for (const [key, entry] of Object.entries(auths)) {
    let k = normaliseKey(key);
    const reg = registry === 'docker.io' || HUB_ALIASES.has(registry) ? 'docker.io' : registry;
    const kHost = k.split('/')[0];
    if (HUB_ALIASES.has(kHost)) k = 'docker.io' + k.slice(kHost.length);
    const target = reg + full.slice(registry.length);
    if (k === target || target.startsWith(k + '/') || k === reg) {
      if (!best || k.length > best.len) best = { len: k.length, entry };
    }
  }
  return best?.entry;
}

export type HelperRunner = (helper: string, serverURL: string) => Promise<{ Username?: string; Secret?: string } | undefined>;

/** Runs `docker-credential-NAME get` with the server URL on stdin (the helper protocol). */
export const runCredentialHelper: HelperRunner = (helper, serverURL) =>
  new Promise((resolve, reject) => {
    const bin = `docker-credential-${helper}`;
    const child = execFile(bin, ['get'], { timeout: 30_000 }, (err, stdout) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new OcimountError('UNAUTHORIZED', `credential helper ${bin} is configured but not installed (not on PATH)`));
          return;
        }
        // The protocol says "credentials not found" on stdout with a non-zero exit: anonymous.
        if (/credentials not found/i.test(String(stdout))) return resolve(undefined);
        reject(new OcimountError('UNAUTHORIZED', `credential helper ${bin} failed for ${serverURL}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as { Username?: string; Secret?: string });
      } catch {
        reject(new OcimountError('UNAUTHORIZED', `credential helper ${bin} printed something that is not JSON`));
      }
    });
    child.stdin?.end(serverURL);
  });

async function fromHelper(helper: string, registry: string, run: HelperRunner): Promise<Credential | undefined> {
  const serverURL = HUB_ALIASES.has(registry) ? DOCKER_HUB_KEY : registry;
  const out = await run(helper, serverURL);
  if (!out || !out.Secret) return undefined;
  // "<token>" as the user name marks an identity token in the helper protocol.
  if (out.Username === '<token>') return { kind: 'identityToken', token: out.Secret };
  return { kind: 'basic', username: out.Username ?? '', password: out.Secret };
}

/** Reads one config.json / auth.json file (on every resolve, so edits are seen). */
export function configFileKeychain(file: string, run: HelperRunner = runCredentialHelper): Keychain {
  return {
    async resolve(registry, repository) {
      const cfg = readConfig(file);
      if (!cfg) return undefined;
      const reg = HUB_ALIASES.has(registry) ? 'docker.io' : registry;
      const helperKey = Object.keys(cfg.credHelpers ?? {}).find((k) => sameRegistry(k, reg));
      if (helperKey) {
        debug('using credential helper %s for %s', cfg.credHelpers![helperKey], reg);
        return fromHelper(cfg.credHelpers![helperKey], reg, run);
      }
      const entry = cfg.auths ? findEntry(cfg.auths, reg, repository) : undefined;
      if (entry) {
        const c = entryToCredential(entry, file);
        if (c) {
          debug('credentials for %s from %s', reg, file);
          return c;
        }
      }
      // credsStore holds everything whose auths entry is empty (or missing).
      if (cfg.credsStore) return fromHelper(cfg.credsStore, reg, run);
      return undefined;
    },
  };
}

export interface KeychainEnv {
  env?: NodeJS.ProcessEnv;
  home?: string;
  run?: HelperRunner;
}

/** The files searched, in order: $REGISTRY_AUTH_FILE, Docker's config.json, containers' auth.json. */
export function credentialFiles(opts: KeychainEnv = {}): string[] {
  const env = opts.env ?? process.env;
  const home = opts.home ?? env.HOME ?? os.homedir();
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  files.push(path.join(env.DOCKER_CONFIG ?? path.join(home, '.docker'), 'config.json'));
  if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'containers', 'auth.json'));
  return files;
}

/** What `docker pull` / `podman pull` would use when no credentials are given. */
export function defaultKeychain(opts: KeychainEnv = {}): Keychain {
  return multiKeychain(...credentialFiles(opts).map((f) => configFileKeychain(f, opts.run)));
}

/** A credential safe to print: kind and user only. */
export function describeCredential(c: Credential | undefined): string {
  if (!c) return 'anonymous';
  if (c.kind === 'basic') return `user ${c.username}`;
  if (c.kind === 'identityToken') return `identity token${c.username ? ` of ${c.username}` : ''}`;
  return 'registry token';
}
