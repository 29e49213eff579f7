import { readFileSync } from 'node:fs';
import { Gauge, type Registry } from 'prom-client';

/** Which build is running: baked into the image at build time (Dockerfile ARG APP_VERSION, GIT_COMMIT -> ENV). */
export interface BuildInfo {
  version: string;
  commit: string;
}

/** Printable, bounded: the values end up in logs, JSON and Prometheus labels. */
const BUILD_VALUE = /^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$/;

let packageVersion: string | undefined;

/** package.json's version: what a build from a checkout without the build arguments is. */
function readPackageVersion(): string {
  if (packageVersion === undefined) {
    try {
      // src/common/ and dist/common/ are both two levels below package.json.
      const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
      packageVersion = String((JSON.parse(text) as { version?: unknown }).version ?? 'unknown');
    } catch {
      packageVersion = 'unknown';
    }
  }
  return packageVersion;
}

function valid(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  return value && BUILD_VALUE.test(value) ? value : undefined;
}

/** APP_VERSION and GIT_COMMIT, falling back to package.json's version and 'unknown' when unset or malformed. */
export function readBuildInfo(env: NodeJS.ProcessEnv = process.env): BuildInfo {
  return {
    version: valid(env.APP_VERSION) ?? readPackageVersion(),
    commit: valid(env.GIT_COMMIT) ?? 'unknown',
  };
}

/** `pillarbox_build_info{version,commit} 1`: joins any series to the build that produced it. */
export function registerBuildInfoMetric(registry: Registry, build: BuildInfo = readBuildInfo()): void {
  new Gauge({
    name: 'pillarbox_build_info',
    help: 'The running build: version and commit as labels, value always 1',
    labelNames: ['version', 'commit'],
    registers: [registry],
  }).set({ version: build.version, commit: build.commit }, 1);
}
