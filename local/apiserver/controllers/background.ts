// The API server's own controllers, run together in the background: on a timer, and soon after a
// write leaves a deletion to finish.
import type { ApiCore } from '../core.js';
import { DisruptionController } from './disruption.js';
import { EndpointsController } from './endpoints.js';
import { collectGarbage } from './garbage-collector.js';
import { ensureDefaultServiceAccounts } from './service-accounts.js';

export class Controllers {
  private timer: NodeJS.Timeout | undefined;
  private soonTimer: NodeJS.Immediate | undefined;
  private readonly disruption: DisruptionController;
  private readonly endpoints: EndpointsController;

  constructor(
    private readonly core: ApiCore,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    this.disruption = new DisruptionController(core.store);
    this.endpoints = new EndpointsController(core, log);
    core.wakeControllers = () => this.soon();
  }

  start(intervalMs = 250): void {
    this.timer = setInterval(() => this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soonTimer) clearImmediate(this.soonTimer);
    this.endpoints.stop();
  }

  private soon(): void {
    if (this.soonTimer) return;
    this.soonTimer = setImmediate(() => {
      this.soonTimer = undefined;
      this.sweep();
    });
  }

  /** One pass of every controller: ServiceAccounts, PodDisruptionBudget status, Endpoints, then garbage collection. */
  sweep(): void {
    try {
      ensureDefaultServiceAccounts(this.core);
      this.disruption.sync();
      this.endpoints.sync();
      collectGarbage(this.core);
    } catch (err) {
      this.log(`background sweep failed: ${(err as Error).stack ?? String(err)}`);
    }
  }
}
