import { Test } from '@nestjs/testing';
import { TerminusModule } from '@nestjs/terminus';
import { AppConfig, loadConfig } from '../config/app-config.js';
import { RssHealthIndicator } from './rss.health.js';

const MiB = 1024 * 1024;

async function indicator(config: AppConfig): Promise<RssHealthIndicator> {
  const moduleRef = await Test.createTestingModule({
    imports: [TerminusModule],
    providers: [RssHealthIndicator, { provide: AppConfig, useValue: config }],
  }).compile();
  return moduleRef.get(RssHealthIndicator);
}

describe('RssHealthIndicator', () => {
  it('is up below HEALTH_MAX_RSS_PERCENT of the memory limit, down above it', async () => {
    const rss = await indicator(loadConfig({ HEALTH_MAX_RSS_PERCENT: '80' }, { memoryLimitBytes: 500 * MiB }));
    expect(rss.check('memory_rss', 400 * MiB)).toEqual({
      memory_rss: { status: 'up', rssMb: 400, limitMb: 500, percent: 80, maxPercent: 80 },
    });
    expect(rss.check('memory_rss', 401 * MiB)).toEqual({
      memory_rss: { status: 'down', rssMb: 401, limitMb: 500, percent: 80.2, maxPercent: 80 },
    });
  });

  it('is up without a memory limit, and shows the RSS', async () => {
    const rss = await indicator(loadConfig({}));
    expect(rss.check('memory_rss', 3000 * MiB)).toEqual({ memory_rss: { status: 'up', rssMb: 3000, limitMb: null } });
  });
});
