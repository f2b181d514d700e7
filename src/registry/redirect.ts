// Following redirects the way a registry client must: blobs are often served
// from another host (a CDN, object storage with a signed URL), and our
// credentials are for the registry only, so Authorization is dropped as soon as
// the origin changes.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { OcimountError } from '../errors';
import { redactUrl } from './errors';
import type { Transport } from './transport';

export const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export interface Followed {
  res: IncomingMessage;
  /** Where the response finally came from. */
  url: URL;
}

export async function sendFollowingRedirects(transport: Transport, start: URL, headers: OutgoingHttpHeaders): Promise<Followed> {
  let url = start;
  let h: OutgoingHttpHeaders = { ...headers };
  for (let hop = 0; ; hop++) {
    const res = await transport.send({ url, headers: h });
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECT_STATUSES.has(status) || !location) return { res, url };
    res.resume();
    if (hop >= MAX_REDIRECTS) {
      throw new OcimountError('PROTOCOL', `${transport.registry} redirected more than ${MAX_REDIRECTS} times (last to ${redactUrl(location)})`, { url: redactUrl(start) });
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new OcimountError('PROTOCOL', `${transport.registry} redirected to an unparseable location`, { url: redactUrl(url) });
    }
    if (next.origin !== url.origin) {
      const { authorization: _drop, ...rest } = h;
      void _drop;
      h = rest;
    }
    url = next;
  }
}
