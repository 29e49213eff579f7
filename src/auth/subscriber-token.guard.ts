import { allowAnyOrigin } from '../common/cors.js';
import { Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request, Response } from 'express';
import { SubscriberTokens } from './subscriber-tokens.service.js';

const REALM = 'realm="pillarbox-events"';

/**
 * The token a request presents: `Authorization: Bearer <token>`, else `?access_token=` (EventSource sets no headers).
 * An Authorization header of another scheme is not ours: a browser sends the basic-auth credentials of a proxy in
 * front with EventSource's request too, and it must not hide the query's token.
 */
export function presentedToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined && /^Bearer(?: |$)/i.test(header)) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    return match?.[1];
  }
  const query = req.query.access_token;
  return typeof query === 'string' ? query : undefined;
}

/**
 * Lets a request through when SUBSCRIBER_TOKENS is unset or when it presents one of the tokens; otherwise
 * 401 with `WWW-Authenticate: Bearer`. The one place that decides who reads the stream: swap it for a JWT
 * guard without touching the controllers. (GET /events counts its refusals: see StreamAuthGuard.)
 */
@Injectable()
export class SubscriberTokenGuard implements CanActivate {
  constructor(private readonly subscriberTokens: SubscriberTokens) {}

  canActivate(context: ExecutionContext): boolean {
    if (!this.subscriberTokens.required) return true;
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const token = presentedToken(req);
    if (token !== undefined && this.subscriberTokens.tokens.has(token)) return true;

    const res = http.getResponse<Response>();
    // Readable cross-origin, so a console on another site can tell a refusal from a network error.
    allowAnyOrigin(res);
    res.setHeader(
      'WWW-Authenticate',
      token === undefined ? `Bearer ${REALM}` : `Bearer ${REALM}, error="invalid_token"`,
    );
    throw new UnauthorizedException(
      token === undefined
        ? 'A subscriber token is required: Authorization: Bearer <token> or ?access_token=<token>'
        : 'The subscriber token is not valid',
    );
  }
}
