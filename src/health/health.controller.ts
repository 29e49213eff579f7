import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService, MemoryHealthIndicator } from '@nestjs/terminus';
import { AppConfig } from '../config/app-config.js';
import { readBuildInfo } from '../common/build-info.js';
import { ShutdownState } from '../common/shutdown-state.service.js';
import { DocumentHealth, DocumentLiveness, DocumentReadiness } from '../openapi/api-docs.decorators.js';
import { BackplaneHealthIndicator } from './backplane.health.js';
import { RssHealthIndicator } from './rss.health.js';
import { SubscribersHealthIndicator } from './subscribers.health.js';

/** The probes' paths, which the files in deploy/ name too (deployment-files.spec.ts keeps them equal). */
export const HEALTH_PATHS = { full: 'health', liveness: 'health/live', readiness: 'health/ready' } as const;

@Controller()
export class HealthController {
  private readonly build = readBuildInfo();

  constructor(
    private readonly health: HealthCheckService,
    private readonly memory: MemoryHealthIndicator,
    private readonly rss: RssHealthIndicator,
    private readonly subscribers: SubscribersHealthIndicator,
    private readonly backplane: BackplaneHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly shutdown: ShutdownState,
    private readonly config: AppConfig,
  ) {}

  /** The full picture, for the probes and dashboards that already call GET /health. */
  @Get(HEALTH_PATHS.full)
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @DocumentHealth()
  check() {
    return this.health.check([
      () => this.memory.checkHeap('memory_heap', this.config.healthMaxHeapMb * 1024 * 1024),
      () => this.rss.check(),
      () => this.subscribers.check(),
      () => this.backplane.check(),
      // Always up: tells which version and commit answer.
      () => this.indicators.check('build').up({ ...this.build }),
    ]);
  }

  /** Liveness: the process answers. Nothing external belongs here, or an outage restarts the fleet. */
  @Get(HEALTH_PATHS.liveness)
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @DocumentLiveness()
  live() {
    return this.health.check([]);
  }

  /** Readiness: false once shutting down, so the load balancer stops sending new clients. */
  @Get(HEALTH_PATHS.readiness)
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @DocumentReadiness()
  ready() {
    return this.health.check([
      () => {
        const session = this.indicators.check('lifecycle');
        return this.shutdown.isShuttingDown
          ? session.down({ state: 'shutting down' })
          : session.up({ state: 'serving' });
      },
    ]);
  }
}
