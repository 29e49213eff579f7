import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import type { BroadcastEvent } from './ingest.js';

/**
 * The one place where events enter the stream: accepted events, already serialized into their SSE frame
 * (`data: <json>\n\n`), so that they are serialized once whatever the number of subscribers.
 */
@Injectable()
export class EventBus implements OnModuleDestroy {
  private readonly events = new Subject<BroadcastEvent>();
  readonly events$: Observable<BroadcastEvent> = this.events.asObservable();

  publish(event: BroadcastEvent): void {
    this.events.next(event);
  }

  onModuleDestroy(): void {
    this.events.complete();
  }
}
