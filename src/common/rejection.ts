import type { HttpException } from '@nestjs/common';
import type { RejectReason } from './reasons.js';

const REASON = Symbol('rejectReason');

/** Marks an exception refusing an event with the reason counted in the metrics. */
export function rejection<T extends HttpException>(reason: RejectReason, exception: T): T {
  (exception as T & { [REASON]?: RejectReason })[REASON] = reason;
  return exception;
}

/** The reason carried by `rejection()`, or `other` for anything unexpected. */
export function rejectReason(err: unknown): RejectReason {
  return (err as { [REASON]?: RejectReason } | null)?.[REASON] ?? 'other';
}
