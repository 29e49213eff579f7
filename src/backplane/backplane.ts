import type { Observable } from 'rxjs';
import type { BroadcastEvent } from '../common/broadcast-event.js';

/** What GET /health shows about the backplane; `up: false` turns /health to 503. */
export interface BackplaneStatus {
  readonly mode: 'local' | 'redis';
  readonly up: boolean;
  readonly [detail: string]: unknown;
}

/**
 * How events accepted by this instance reach the subscribers of the other instances, and theirs reach ours.
 * Also the DI token: the events module depends on this class only, whichever backplane runs.
 */
export abstract class Backplane {
  /** Events accepted by the other instances, each once; never this instance's own. */
  abstract readonly incoming$: Observable<BroadcastEvent>;

  /** Hands an event accepted here to the other instances. Never throws or waits: when it cannot, it drops. */
  abstract publish(event: BroadcastEvent): void;

  abstract status(): BackplaneStatus;
}
