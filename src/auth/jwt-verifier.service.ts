import { createHash } from 'node:crypto';
import { Injectable, ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import { AppConfig } from '../config/app-config.js';
import { Timings } from '../config/timings.js';
import type { Grant, GrantFilter } from './grant.js';

/** The claim that narrows what a token's stream carries: `{ "event_name": [...], "session_id": [...] }`. */
export const FILTER_CLAIM = 'pillarbox_filter';

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const KEY_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

/** Tokens verified already, kept until they expire: at most this many (the oldest are forgotten first). */
const MAX_VERIFIED = 10_000;

/** A JWKS that cannot be had (down, slow, not JSON, not a key set): nothing to do with the token itself. */
function isKeySetFailure(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  // A fetch that failed (refused, reset, DNS), or a key set answered with another status than 200.
  if (err instanceof TypeError) return true;
  return err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC';
}

function stringList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v !== '')) {
    throw new UnauthorizedException(`The token's ${FILTER_CLAIM} claim must list non-empty strings`);
  }
  return value as string[];
}

/** The restriction a verified token's claims put on its stream, if any. */
function filterOf(payload: JWTPayload): GrantFilter | undefined {
  const claim = payload[FILTER_CLAIM];
  if (claim === undefined) return undefined;
  if (claim === null || typeof claim !== 'object' || Array.isArray(claim)) {
    throw new UnauthorizedException(`The token's ${FILTER_CLAIM} claim must be an object`);
  }
  const { event_name: eventNames, session_id: sessionIds } = claim as Record<string, unknown>;
  return { eventNames: stringList(eventNames), sessionIds: stringList(sessionIds) };
}

/**
 * Subscriber JWTs (JWT_SECRET for HS256, JWT_JWKS_URL for signed with a key pair): `exp` required, `nbf`, `iss`
 * and `aud` checked when set, JWT_CLOCK_TOLERANCE_S of clock difference allowed. A token's algorithm picks the one
 * way it is checked (HMAC with the secret, or a key of the JWKS), so that a token signed with a public key as HMAC
 * secret is refused; `alg: none` is never taken.
 * The JWKS is fetched by jose (5 s timeout, kept 10 minutes, fetched again for an unknown key at most every 30 s:
 * Timings),
 * asynchronously: nothing waits for it but the request that needs it. While it cannot be had, a token that was
 * verified before keeps working until it expires; a new one is refused with 503, not 401.
 */
@Injectable()
export class JwtVerifier {
  private readonly secret?: Uint8Array;
  private readonly keySet?: ReturnType<typeof createRemoteJWKSet>;
  private readonly options: JWTVerifyOptions;
  private readonly verified = new Map<string, Grant>();

  constructor(config: AppConfig, timings: Timings) {
    if (config.jwtSecret) this.secret = new TextEncoder().encode(config.jwtSecret);
    if (config.jwtJwksUrl) {
      this.keySet = createRemoteJWKSet(new URL(config.jwtJwksUrl), {
        timeoutDuration: timings.jwksTimeoutMs,
        cooldownDuration: timings.jwksCooldownMs,
      });
    }
    this.options = {
      requiredClaims: ['exp'],
      clockTolerance: config.jwtClockToleranceS,
      ...(config.jwtIssuer && { issuer: config.jwtIssuer }),
      ...(config.jwtAudience && { audience: config.jwtAudience }),
    };
  }

  get enabled(): boolean {
    return this.secret !== undefined || this.keySet !== undefined;
  }

  /** Whether `token` has the shape of a JWT (three base64url parts), rather than of a static token. */
  static looksLikeJwt(token: string): boolean {
    return /^[\w-]+\.[\w-]+\.[\w-]*$/.test(token);
  }

  /**
   * What `token` grants.
   * @throws UnauthorizedException (401) for a token that is not valid; ServiceUnavailableException (503) when its
   *   keys cannot be had now.
   */
  async verify(token: string): Promise<Grant> {
    const digest = createHash('sha256').update(token).digest('base64url');
    const known = this.verified.get(digest);
    if (known) {
      if (known.expiresAt > Date.now()) return known;
      this.verified.delete(digest);
    }
    const grant = await this.check(token);
    if (this.verified.size >= MAX_VERIFIED) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(digest, grant);
    return grant;
  }

  private async check(token: string): Promise<Grant> {
    let payload: JWTPayload;
    try {
      const { alg } = decodeProtectedHeader(token);
      if (alg && HMAC_ALGORITHMS.includes(alg) && this.secret) {
        ({ payload } = await jwtVerify(token, this.secret, { ...this.options, algorithms: HMAC_ALGORITHMS }));
      } else if (alg && KEY_ALGORITHMS.includes(alg) && this.keySet) {
        ({ payload } = await jwtVerify(token, this.keySet, { ...this.options, algorithms: KEY_ALGORITHMS }));
      } else {
        throw new UnauthorizedException(`Tokens signed with ${JSON.stringify(alg)} are not accepted`);
      }
    } catch (err) {
      if (err instanceof UnauthorizedException) throw err;
      if (isKeySetFailure(err)) {
        throw new ServiceUnavailableException(
          'The keys that verify subscriber tokens (JWT_JWKS_URL) cannot be had at the moment: try again shortly',
        );
      }
      throw new UnauthorizedException(`The subscriber token is not valid: ${(err as Error).message}`);
    }
    return { expiresAt: (payload.exp as number) * 1000, filter: filterOf(payload) };
  }
}
