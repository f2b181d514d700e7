// The distribution client's public face: open one repository on one registry.
// docker.io is served by registry-1.docker.io; loopback registries may speak
// plain HTTP (as Docker allows); everything else is HTTPS unless insecure.
import { DEFAULT_REGISTRY, DOCKER_HUB_API_HOST } from '../ref/reference';
import { RegistryRepository } from './client';
import type { RegistryClientOptions, RepositoryClient } from './types';

export type { BlobResponse, FetchedManifest, RegistryClientOptions, RepositoryClient } from './types';
export { MANIFEST_BODY_CAP, SCHEMA1_MESSAGE } from './manifest';

/** The host:port that serves a registry's API. */
export function registryApiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY || registry === 'index.docker.io' ? DOCKER_HUB_API_HOST : registry;
}

export function openRepository(ref: { registry: string; repository: string }, opts: RegistryClientOptions = {}): RepositoryClient {
  return new RegistryRepository({ ...opts, registry: ref.registry, repository: ref.repository, apiHost: registryApiHost(ref.registry) });
}
