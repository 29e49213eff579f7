import { Injectable } from '@nestjs/common';

/** Whether the instance is shutting down: readiness fails and new streams are refused from then on. */
@Injectable()
export class ShutdownState {
  private shuttingDown = false;

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  begin(): void {
    this.shuttingDown = true;
  }
}
