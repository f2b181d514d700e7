// The contract between the distribution client (registry/) and its users
// (pull, layout). The client returns bytes and streams; it never writes disk.
import type { Readable } from 'node:stream';
import type { Keychain } from '../auth/keychain';

export interface RegistryClientOptions {
  /** Where credentials come from (default: anonymous). Explicit --username/--password-stdin is a staticKeychain. */
  keychain?: Keychain;
  /** Allow plain HTTP and unverified TLS. Loopback hosts get it automatically, as Docker does. */
  insecure?: boolean;
  /** Extra CA certificates (PEM) to trust for HTTPS. */
  ca?: string | Buffer;
  /** Aborts every request in flight (Ctrl-C). */
  signal?: AbortSignal;
  /** Attempts per request on network errors, 429 and 5xx (default 5), with backoff; Retry-After is honoured. */
  retries?: number;
  /** Base backoff in ms (default 200); tests lower it. */
  backoffMs?: number;
  /** Debug lines (never secrets). */
  log?: (line: string) => void;
}

export interface FetchedManifest {
  /** The Content-Type the registry gave (or the document's own mediaType). */
  mediaType: string;
  /** sha256 of body; checked against the reference when fetched by digest. */
  digest: string;
  size: number;
  body: Buffer;
}

export interface BlobResponse {
  stream: Readable;
  /** The offset of the first byte in stream: the requested offset when the registry honoured Range, else 0. */
  offset: number;
  /** Total blob size when the registry told it. */
  size?: number;
}

/** One repository on one registry ("127.0.0.1:5000" + "ns/mini-web"). */
export interface RepositoryClient {
  readonly registry: string;
  readonly repository: string;
  /** GET a manifest or index by tag or digest; schema1 → OcimountError UNSUPPORTED; digest mismatch → DIGEST_MISMATCH. */
  manifest(reference: string): Promise<FetchedManifest>;
  /** GET a blob, following redirects (Authorization dropped when the host changes); offset > 0 asks for a Range. */
  blob(digest: string, opts?: { offset?: number }): Promise<BlobResponse>;
}
