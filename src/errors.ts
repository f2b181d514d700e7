// Error classes with stable codes. Retries and exit statuses key on `code`,
// never on the message. `instanceof` is avoided across module copies by
// checking the `ocimountError` brand instead.

export type ErrorCode =
  | 'USAGE' // malformed input from the user (bad reference, bad flag)
  | 'NOT_FOUND' // repository, tag, digest, platform or path not found
  | 'UNAUTHORIZED' // registry refused our credentials
  | 'DENIED'
  | 'UNSUPPORTED' // e.g. Docker schema1, unknown media type
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'TRUNCATED'
  | 'CORRUPT' // undecodable compressed data or tar
  | 'UNSAFE_PATH' // a tar entry tried to escape its layer
  | 'NETWORK' // connection refused, reset, DNS, TLS
  | 'RATE_LIMITED'
  | 'SERVER' // registry 5xx
  | 'PROTOCOL' // registry spoke something we do not understand
  | 'NO_SPACE'
  | 'NOT_A_LAYOUT'
  | 'BUSY' // mountpoint busy / already mounted
  | 'PERMISSION' // needs root / CAP_SYS_ADMIN / /dev/fuse access
  | 'MOUNT_FAILED'
  | 'LIMIT' // e.g. too many layers for overlayfs
  | 'INTERNAL';

export class OcimountError extends Error {
  readonly ocimountError = true;
  readonly code: ErrorCode;
  /** Extra facts for programs (never secrets). */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OcimountError';
    this.code = code;
    this.details = details;
  }

  /** Whether retrying the same request may succeed. */
  get temporary(): boolean {
    return this.code === 'NETWORK' || this.code === 'RATE_LIMITED' || this.code === 'SERVER' || this.code === 'TRUNCATED';
  }
}

export function isOcimountError(err: unknown, code?: ErrorCode): err is OcimountError {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { ocimountError?: unknown }).ocimountError === true &&
    (code === undefined || (err as OcimountError).code === code)
  );
}

/** Exit status for the CLI: 2 for usage errors, 1 for every failed operation. */
export function exitCodeFor(err: unknown): number {
  return isOcimountError(err, 'USAGE') ? 2 : 1;
}
