import {
  Injectable,
  ServiceUnavailableException,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { allowAnyOrigin } from '../common/cors.js';
import { grantRequest } from './grant.js';
import { JwtVerifier } from './jwt-verifier.service.js';
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
 * Lets a request through when no token is configured (SUBSCRIBER_TOKENS, JWT_SECRET, JWT_JWKS_URL), or when it
 * presents one of the static tokens or a valid JWT (whose grant, its expiry and filter claim, is kept for the
 * request: see grant.ts); otherwise 401 with `WWW-Authenticate: Bearer`, or 503 when a JWT's keys cannot be had.
 * The one place that decides who reads the stream and the metrics. (GET /events counts its refusals: see
 * StreamAuthGuard.)
 */
@Injectable()
export class SubscriberTokenGuard implements CanActivate {
  constructor(
    private readonly subscriberTokens: SubscriberTokens,
    private readonly jwts: JwtVerifier,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (!this.subscriberTokens.required && !this.jwts.enabled) return true;
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const token = presentedToken(req);
    if (token !== undefined && this.subscriberTokens.tokens.has(token)) return true;
    if (token !== undefined && this.jwts.enabled && JwtVerifier.looksLikeJwt(token)) {
      return this.jwts.verify(token).then(
        (grant) => {
          grantRequest(req, grant);
          return true;
        },
        (err: unknown) => this.refuse(http.getResponse<Response>(), token, err as Error),
      );
    }
    return this.refuse(http.getResponse<Response>(), token);
  }

  private refuse(res: Response, token: string | undefined, err?: Error): never {
    // Readable cross-origin, so a console on another site can tell a refusal from a network error.
    allowAnyOrigin(res);
    if (err instanceof ServiceUnavailableException) throw err;
    res.setHeader(
      'WWW-Authenticate',
      token === undefined ? `Bearer ${REALM}` : `Bearer ${REALM}, error="invalid_token"`,
    );
    if (err instanceof UnauthorizedException) throw err;
    throw new UnauthorizedException(
      token === undefined
        ? 'A subscriber token is required: Authorization: Bearer <token> or ?access_token=<token>'
        : 'The subscriber token is not valid',
    );
  }
}
