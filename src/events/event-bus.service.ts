import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';

/**
 * The one place where events enter the stream: accepted events, already serialized into their SSE frame
 * (`data: <json>\n\n`), so that they are serialized once whatever the number of subscribers.
 */
@Injectable()
export class EventBus implements OnModuleDestroy {
  private readonly frames = new Subject<Buffer>();
  readonly frames$: Observable<Buffer> = this.frames.asObservable();

  publish(frame: Buffer): void {
    this.frames.next(frame);
  }

  onModuleDestroy(): void {
    this.frames.complete();
  }
}
