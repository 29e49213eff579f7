import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Subject, type Observable, type Subscription } from 'rxjs';
import { Backplane } from '../backplane/backplane.js';
import type { BroadcastEvent } from '../common/broadcast-event.js';

/**
 * The one place where events enter the stream: accepted events, already serialized into their SSE frame
 * (`data: <json>\n\n`), so that they are serialized once whatever the number of subscribers.
 * Events accepted here go to this instance's subscribers at once and to the backplane; events from the
 * backplane (accepted by other instances) go to this instance's subscribers only.
 */
@Injectable()
export class EventBus implements OnModuleInit, OnModuleDestroy {
  private readonly events = new Subject<BroadcastEvent>();
  readonly events$: Observable<BroadcastEvent> = this.events.asObservable();
  private incoming?: Subscription;

  constructor(private readonly backplane: Backplane) {}

  onModuleInit(): void {
    this.incoming = this.backplane.incoming$.subscribe((event) => this.events.next(event));
  }

  publish(event: BroadcastEvent): void {
    // The backplane first: both send at the end of the turn, in this order, so that the other instances' copy
    // leaves before this instance's own writes to its subscribers, not after them.
    this.backplane.publish(event);
    this.events.next(event);
  }

  onModuleDestroy(): void {
    this.incoming?.unsubscribe();
    this.events.complete();
  }
}
