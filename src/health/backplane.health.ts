import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Backplane } from '../backplane/backplane.js';

/**
 * Reports the backplane: always up when the instance runs alone (`mode: local`); with Redis, down while the
 * other instances cannot be reached. Only GET /health shows it: live and ready stay up, since this instance
 * still serves its own clients and restarting it would not bring Redis back.
 */
@Injectable()
export class BackplaneHealthIndicator {
  constructor(
    private readonly backplane: Backplane,
    private readonly indicators: HealthIndicatorService,
  ) {}

  check(key = 'backplane') {
    const { up, ...data } = this.backplane.status();
    const session = this.indicators.check(key);
    return up ? session.up(data) : session.down(data);
  }
}
