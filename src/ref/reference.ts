// Image references as Docker users write them, normalised the way Docker does:
// "alpine" is docker.io/library/alpine:latest, a first component with a dot, a
// colon or "localhost" is a registry host, a tag defaults to "latest".
// Pure: no I/O.
import { OcimountError } from '../errors';

export const DEFAULT_REGISTRY = 'docker.io';
/** The host that actually serves Docker Hub's registry API. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Canonical registry name: "docker.io", "host:5000", "[::1]:5000". */
  registry: string;
  /** Repository path inside the registry: "library/alpine". */
  repository: string;
  /** The tag written (or "latest" when neither tag nor digest was given). */
  tag?: string;
  /** "sha256:<64 hex>" when the reference pins a digest. */
  digest?: string;
  /** Host:port to send API requests to (Docker Hub's differs from its name). */
  apiHost: string;
}

// Grammar from the distribution reference package (docker's own), written anew.
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const PATH_RE = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]+)?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_RE = /^sha256:[0-9a-f]{64}$/;
const NAME_MAX = 255;

function usage(input: string, why: string): OcimountError {
  return new OcimountError('USAGE', `invalid image reference "${input}": ${why}`, { reference: input });
}

/** Splits "host/path" into registry and path the way Docker's splitDockerDomain does. */
function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  const first = i === -1 ? '' : name.slice(0, i);
  let domain: string;
  let rest: string;
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_REGISTRY;
    rest = name;
  } else {
    domain = first;
    rest = name.slice(i + 1);
  }
  if (domain === 'index.docker.io' || domain === 'registry-1.docker.io') domain = DEFAULT_REGISTRY;
  if (domain === DEFAULT_REGISTRY && !rest.includes('/')) rest = `library/${rest}`;
  return [domain, rest];
}

/** Parses and normalises an image reference; throws USAGE with the reason when malformed. */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === '') throw usage(input, 'it is empty');
  if (/\s/.test(s)) throw usage(input, 'it contains whitespace');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw usage(input, 'leave out the URL scheme (write host/name:tag)');

  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw usage(input, `"${digest}" is not a digest (expected sha256:<64 hex digits>)`);
    if (!digest.startsWith('sha256:')) throw new OcimountError('UNSUPPORTED', `digest algorithm in "${input}" is not supported; only sha256 is`);
    if (!SHA256_RE.test(digest)) throw usage(input, `"${digest}" is not a sha256 digest (64 lowercase hex digits)`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw usage(input, `"${tag}" is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)`);
  }
  if (rest === '') throw usage(input, 'the repository name is missing');

  const [registry, repository] = splitDomain(rest);
  if (registry !== DEFAULT_REGISTRY && !DOMAIN_RE.test(registry)) throw usage(input, `"${registry}" is not a valid registry host`);
  const port = /:(\d+)$/.exec(registry)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw usage(input, `port ${port} is not a TCP port (1-65535)`);
  if (repository === '' ) throw usage(input, 'the repository name is missing');
  if (repository.toLowerCase() !== repository && PATH_RE.test(repository.toLowerCase())) {
    throw usage(input, 'repository names must be lowercase');
  }
  if (!PATH_RE.test(repository)) {
    throw usage(input, `"${repository}" is not a valid repository name (lowercase letters, digits and . _ - separators, components joined by /)`);
  }
  if (registry.length + 1 + repository.length > NAME_MAX) throw usage(input, `the name is longer than ${NAME_MAX} characters`);

  if (!tag && !digest) tag = DEFAULT_TAG;
  const ref: Reference = { registry, repository, apiHost: registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry };
  if (tag) ref.tag = tag;
  if (digest) ref.digest = digest;
  return ref;
}

/** The fully qualified form: "docker.io/library/alpine:latest", "host:5000/a/b@sha256:…". */
export function formatReference(ref: Pick<Reference, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The short form Docker prints: "alpine:latest", "user/app:1", "host:5000/x:y". */
export function familiarName(ref: Pick<Reference, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  let name = ref.registry === DEFAULT_REGISTRY ? ref.repository.replace(/^library\/(?=[^/]+$)/, '') : `${ref.registry}/${ref.repository}`;
  if (ref.tag) name += `:${ref.tag}`;
  if (ref.digest) name += `@${ref.digest}`;
  return name;
}

/** Whether a registry host is on the loopback interface (where Docker allows plain HTTP). */
export function isLoopbackHost(host: string): boolean {
  const h = hostname(host).toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1' || h === '[::1]';
}

/** The host part of "host:port" / "[v6]:port". */
export function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i === -1 ? host : host.slice(0, i);
}
