import type { IncomingMessage } from 'node:http';

/** What a token's claims let its stream carry: only events of these names, of these sessions (absent: any). */
export interface GrantFilter {
  readonly eventNames?: readonly string[];
  readonly sessionIds?: readonly string[];
}

/** What a request's token grants: access until `expiresAt` (ms since the epoch), `filter` narrowing the stream. */
export interface Grant {
  readonly expiresAt: number;
  readonly filter?: GrantFilter;
}

const grants = new WeakMap<IncomingMessage, Grant>();

/** Set by SubscriberTokenGuard for a request that presented a JWT. */
export function grantRequest(req: IncomingMessage, grant: Grant): void {
  grants.set(req, grant);
}

/** What the request's token grants, when it presented a JWT; undefined for a static token or none. */
export function grantOf(req: IncomingMessage): Grant | undefined {
  return grants.get(req);
}
