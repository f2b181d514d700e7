// Messages for refused authentication: which registry, which credential (kind
// and user only, via describeCredential) and where such credentials come from.
// Never the secret.
import { describeCredential } from '../auth/keychain';
import type { Credential } from '../auth/keychain';
import { OcimountError } from '../errors';

const SOURCES = '--username/--password-stdin, $REGISTRY_AUTH_FILE, ~/.docker/config.json (or its credential helper) or containers auth.json';

/** The registry (or its token server) refused our credentials, or we had none. */
export function credentialProblem(registry: string, c: Credential | undefined, details: Record<string, unknown> = {}): OcimountError {
  if (!c) {
    return new OcimountError(
      'UNAUTHORIZED',
      `${registry} requires authentication and no credentials were found for it (looked in ${SOURCES}); log in with "docker login ${registry}" or pass --username and --password-stdin (some registries also answer this way for a repository that does not exist)`,
      { ...details, credential: 'anonymous' },
    );
  }
  return new OcimountError(
    'UNAUTHORIZED',
    `${registry} rejected the credentials (${describeCredential(c)}, taken from ${SOURCES}); check them with "docker login ${registry}"`,
    { ...details, credential: describeCredential(c) },
  );
}

/** The token server took our credentials but the registry still refuses the repository. */
export function accessDenied(registry: string, repository: string, c: Credential, details: Record<string, unknown> = {}): OcimountError {
  return new OcimountError(
    'DENIED',
    `${registry} did not grant ${describeCredential(c)} pull access to ${repository} (the repository may not exist, or this user may not pull it)`,
    { ...details, credential: describeCredential(c) },
  );
}
