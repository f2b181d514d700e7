// What to put in Authorization for one repository on one registry, given the
// registry's last challenge (from the ping or a 401) and the keychain's
// credential. Bearer tokens are fetched once per scope and reused until they
// expire or the registry refuses them; concurrent requests share one fetch.
import type { Credential, Keychain } from '../auth/keychain';
import { parseChallenges } from './challenge';
import type { Challenge } from './challenge';
import { basicHeader, fetchToken } from './token';
import type { BearerToken } from './token';
import type { Transport } from './transport';

export interface AuthenticatorOptions {
  /** Registry name as the user wrote it (keychain key, messages). */
  registry: string;
  repository: string;
  keychain?: Keychain;
  transport: Transport;
}

export class Authenticator {
  private challenge?: Challenge;
  private credential?: Promise<Credential | undefined>;
  private token?: BearerToken;
  private inflight?: Promise<BearerToken>;
  private readonly scope: string;

  constructor(private readonly o: AuthenticatorOptions) {
    this.scope = `repository:${o.repository}:pull`;
  }

  /** The keychain's answer, asked once. */
  resolveCredential(): Promise<Credential | undefined> {
    this.credential ??= this.o.keychain ? this.o.keychain.resolve(this.o.registry, this.o.repository) : Promise.resolve(undefined);
    return this.credential;
  }

  /**
   * Takes a WWW-Authenticate header (ping or 401) and drops the cached token,
   * unless the refused request carried an older one (a concurrent request has
   * already replaced it).
   */
  challenged(header: string | string[] | undefined, refused?: string): void {
    const all = parseChallenges(header);
    // Bearer first: a registry offering both prefers tokens.
    const next = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
    if (next) this.challenge = next;
    if (refused === undefined || !this.token || refused === `Bearer ${this.token.token}`) this.token = undefined;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** The Authorization header value, or undefined to go anonymous. */
  async authorization(): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    const cred = await this.resolveCredential();
    if (ch.scheme === 'basic') {
      if (cred?.kind === 'basic') return basicHeader(cred.username, cred.password);
      if (cred?.kind === 'registryToken') return `Bearer ${cred.token}`;
      return undefined;
    }
    if (ch.scheme !== 'bearer') return undefined;
    if (cred?.kind === 'registryToken') return `Bearer ${cred.token}`;
    if (this.token && Date.now() < this.token.expiresAt) return `Bearer ${this.token.token}`;
    if (!this.inflight) {
      const req = { realm: ch.params.realm ?? '', service: ch.params.service, scope: this.scope, credential: cred, registry: this.o.registry };
      this.inflight = (async () => {
        try {
          const t = await fetchToken(this.o.transport, req);
          this.token = t;
          return t;
        } finally {
          this.inflight = undefined;
        }
      })();
    }
    const t = await this.inflight;
    return `Bearer ${t.token}`;
  }
}
