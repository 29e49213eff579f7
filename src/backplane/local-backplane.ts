import { EMPTY } from 'rxjs';
import { Backplane, type BackplaneStatus } from './backplane.js';

const STATUS: BackplaneStatus = { mode: 'local', up: true };

/** The default: this instance runs alone, its events go to its own subscribers only. */
export class LocalBackplane extends Backplane {
  readonly incoming$ = EMPTY;

  publish(): void {
    // Nothing else to reach.
  }

  status(): BackplaneStatus {
    return STATUS;
  }
}
