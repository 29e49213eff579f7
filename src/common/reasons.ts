/*
 * The reasons the service counts (metrics labels) and reports (logs, GET /health), defined once for every module.
 * Each is exported from the start, at 0, so that rates work before the first occurrence.
 */

/** Why an event was refused on POST /api/events. */
export const REJECT_REASONS = [
  'invalid_json',
  'not_object',
  'too_large',
  'too_deep',
  'encoding',
  'schema',
  'rate_limit',
  'timeout',
  'aborted',
  'after_stream',
  'other',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * Why a stream on GET /events ended (`expired`: its token did), or was refused before it opened: `auth` (a missing
 * or wrong token, or one that cannot be verified now), `full`
 * (MAX_SUBSCRIBERS), `per_address` (MAX_SUBSCRIBERS_PER_ADDRESS).
 */
export const DISCONNECT_REASONS = ['client', 'slow', 'shutdown', 'expired', 'auth', 'full', 'per_address'] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

/** The reasons that end a stream once it is open. */
export type StreamEndReason = Exclude<DisconnectReason, 'auth' | 'full' | 'per_address'>;
