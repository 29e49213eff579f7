import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Whether two secrets are equal, in a time that does not depend on where they differ nor on their lengths:
 * both are hashed to 32 bytes first, as `timingSafeEqual` needs inputs of equal length.
 */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** A set of secrets, hashed once, that a candidate is compared with in constant time. */
export class TokenSet {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  /** Compares with every token, without stopping at a match, so the time says nothing about which one. */
  has(candidate: string): boolean {
    const presented = digest(candidate);
    let found = false;
    for (const known of this.digests) found = timingSafeEqual(presented, known) || found;
    return found;
  }
}
