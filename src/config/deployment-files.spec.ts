import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { HEALTH_PATHS } from '../health/health.controller.js';
import {
  ENV_VARIABLES,
  loadConfig,
  FILTER_BUDGET_BYTES,
  START_BUDGET_BYTES,
  SUBSCRIBER_BUDGET_BYTES,
  type AppConfig,
} from './app-config.js';

/**
 * The deployment files (Dockerfile, deploy/ecs, deploy/kubernetes, docker-compose.yml, deploy/nginx.conf, the Quality
 * workflow) against the application itself: its configuration's real defaults and bounds (loadConfig() on the
 * environment each file sets), its probe routes, package.json's engines. A default changed in src/config, or a file
 * edited alone, fails here.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const read = (file: string) => readFileSync(file, 'utf8');
const yamlFile = (file: string) => parse(read(file)) as Json;
const jsonFile = (file: string) => JSON.parse(read(file)) as Json;

/**
 * The configuration a deployment runs with: its plain environment and its memory limit (the container's cgroup
 * limit, which app.bootstrap.ts reads), read by the application's own loadConfig().
 */
const effectiveConfig = (env: Record<string, string>, memoryLimitBytes?: number): AppConfig =>
  loadConfig(env, { memoryLimitBytes });
const MiB = 1024 * 1024;
/** What the process takes at most, by the budgets of MAX_SUBSCRIBERS's rule, against the memory limit. */
const subscribersBudget = (config: AppConfig) =>
  START_BUDGET_BYTES +
  config.sseBufferBudgetBytes +
  config.maxSubscribers * (SUBSCRIBER_BUDGET_BYTES + FILTER_BUDGET_BYTES);
/** SHUTDOWN_DRAIN_MS, where the configuration has it: the time a stopping instance keeps serving, not ready. */
const drainMs = (config: AppConfig) => Number((config as unknown as Record<string, unknown>).shutdownDrainMs ?? 0);

const LIVENESS = `/${HEALTH_PATHS.liveness}`;
const READINESS = `/${HEALTH_PATHS.readiness}`;

/** What players and consoles use, and what must not be public. */
const PUBLIC = ['/api/events', '/events', '/console', '/console/console.js'];
const PRIVATE = ['/metrics', '/docs', '/docs-json', '/health', LIVENESS, READINESS, '/', '/anything'];

// --- the Dockerfile -------------------------------------------------------------------------------------------------

const dockerfile = read('Dockerfile').replace(/\\\r?\n/g, ' ');
const dockerLines = dockerfile.split(/\r?\n/);
const runtimeStage = dockerLines.slice(dockerLines.findLastIndex((l) => /^FROM\s/.test(l)));
const healthcheckLine = dockerLines.find((l) => /^HEALTHCHECK\s/.test(l)) ?? '';
const healthcheckCommand = JSON.parse(/\sCMD\s+(\[.*\])\s*$/.exec(healthcheckLine)?.[1] ?? '[]') as string[];
const dockerEnv = Object.fromEntries(
  runtimeStage
    .filter((l) => /^ENV\s/.test(l))
    .flatMap((l) => l.replace(/^ENV\s+/, '').split(/\s+/))
    .map((kv) => kv.split('=') as [string, string])
    .filter(([, v]) => !v.startsWith('$')),
);
const nodeImage = /^ARG NODE_IMAGE=node:(\d+)\.(\d+)\.(\d+)-/m.exec(dockerfile);
const seconds = (option: string) => Number(new RegExp(`--${option}=(\\d+)s`).exec(healthcheckLine)?.[1]);

// --- ECS ------------------------------------------------------------------------------------------------------------

const taskDefinition = jsonFile('deploy/ecs/task-definition.json');
const container = taskDefinition.containerDefinitions[0] as Json;
const ecsEnv = Object.fromEntries((container.environment as Json[]).map((e) => [e.name, e.value])) as Record<
  string,
  string
>;
const ecsMemory = Number(taskDefinition.memory) * MiB;
const ecsConfig = effectiveConfig(ecsEnv, ecsMemory);
const stack = yamlFile('deploy/ecs/service.yaml').Resources as Json;
const ofType = (type: string) => Object.values(stack).filter((r) => r.Type === type);

// --- Kubernetes -----------------------------------------------------------------------------------------------------

const deployment = yamlFile('deploy/kubernetes/deployment.yaml');
const pod = deployment.spec.template.spec as Json;
const k8sContainer = pod.containers[0] as Json;
const k8sEnv = Object.fromEntries(
  (k8sContainer.env as Json[]).filter((e) => 'value' in e).map((e) => [e.name, String(e.value)]),
) as Record<string, string>;
/** Kubernetes quantities: `512Mi`, `1Gi`. */
function quantity(value: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(value);
  return m ? Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) * MiB : NaN;
}
const k8sMemory = quantity(String(k8sContainer.resources.limits.memory));
const k8sConfig = effectiveConfig(k8sEnv, k8sMemory);
const ingress = yamlFile('deploy/kubernetes/ingress.yaml');

// --- compose and nginx ----------------------------------------------------------------------------------------------

const compose = yamlFile('docker-compose.yml');
const nginx = read('deploy/nginx.conf');
const composeConfig = effectiveConfig(compose.services.dispatcher.environment as Record<string, string>);

/** "256k", "1m", "1h", "30s" and plain numbers, in bytes or milliseconds. */
function size(value: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value.trim());
  if (!m) throw new Error(`not a size: ${value}`);
  return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
}
function duration(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new Error(`not a duration: ${value}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

/** Whether `version` (x.y.z) satisfies an engines range made of `>=`, `<`, `^` comparators joined by spaces and ||. */
function satisfies(version: string, range: string): boolean {
  const v = version.split('.').map(Number);
  const cmp = (a: number[], b: number[]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  const parts = (s: string) => [...s.split('.').map(Number), 0, 0].slice(0, 3);
  return range.split('||').some((set) =>
    set
      .trim()
      .split(/\s+/)
      .every((c) => {
        const [, op, ver] = /^(>=|<=|>|<|\^|=)?(.+)$/.exec(c)!;
        const b = parts(ver);
        if (op === '^') return cmp(v, b) >= 0 && v[0] === b[0];
        const d = cmp(v, b);
        return { '>=': d >= 0, '<=': d <= 0, '>': d > 0, '<': d < 0, '=': d === 0 }[op ?? '='] as boolean;
      }),
  );
}

describe('deployment files agree with the application', () => {
  const defaults = loadConfig({});

  it('the probe routes are the health controller`s', () => {
    expect([LIVENESS, READINESS]).toEqual(['/health/live', '/health/ready']);
  });

  describe('Dockerfile', () => {
    it('listens on the configured port, probes liveness within its timeout, runs on a supported Node', () => {
      expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${defaults.port}$`, 'm'));
      expect(effectiveConfig(dockerEnv).port).toBe(defaults.port);
      expect(healthcheckCommand.join(' ')).toContain(LIVENESS);
      // The probe's own abort comes before Docker's timeout, so a hung service is a failure, not a stuck probe.
      const abortMs = Number(/AbortSignal\.timeout\((\d+)\)/.exec(healthcheckCommand.join(' '))?.[1]);
      expect(abortMs).toBeLessThan(seconds('timeout') * 1000);
      expect(runtimeStage.some((l) => /^USER\s+(node|[1-9]\d*)/.test(l))).toBe(true);
      const engines = (jsonFile('package.json').engines as Json).node as string;
      expect(nodeImage).not.toBeNull();
      expect(satisfies(nodeImage!.slice(1, 4).join('.'), engines)).toBe(true);
    });

    it('the Quality workflow tests the image`s Node and the oldest Node 22 the engines allow', () => {
      const engines = (jsonFile('package.json').engines as Json).node as string;
      const matrix = yamlFile('.github/workflows/quality.yml').jobs.check.strategy.matrix.node as string[];
      expect(matrix).toContain(`${nodeImage![1]}.${nodeImage![2]}`);
      const minimum22 = /(?:>=|\^)(22\.\d+)/.exec(engines)![1];
      expect(matrix).toContain(minimum22);
      for (const entry of matrix) expect(satisfies(`${entry}.99`, engines)).toBe(true);
    });
  });

  describe('ECS task definition (deploy/ecs/task-definition.json)', () => {
    it('is the Fargate size of the original, on the configured port, with the image`s liveness check', () => {
      expect(taskDefinition).toMatchObject({ requiresCompatibilities: ['FARGATE'], cpu: '256', memory: '512' });
      expect(container.portMappings).toEqual([expect.objectContaining({ containerPort: ecsConfig.port })]);
      expect(ecsConfig.port).toBe(defaults.port);
      expect(container.healthCheck.command).toEqual(['CMD', ...healthcheckCommand]);
      expect(container.healthCheck.timeout).toBe(seconds('timeout'));
    });

    it('takes as many subscribers as fit its memory: MAX_SUBSCRIBERS unset, derived from the task memory', () => {
      expect(Object.keys(ecsEnv)).not.toContain('MAX_SUBSCRIBERS');
      expect(ecsConfig.maxSubscribers).toBeLessThan(10_000);
      expect(subscribersBudget(ecsConfig)).toBeLessThanOrEqual(ecsMemory * 0.8);
    });

    it('stops later than the shutdown drain plus SHUTDOWN_TIMEOUT_MS', () => {
      expect(container.stopTimeout * 1000).toBeGreaterThan(drainMs(ecsConfig) + ecsConfig.shutdownTimeoutMs);
      expect(container.stopTimeout).toBeLessThanOrEqual(120); // Fargate's maximum
    });

    it('takes SUBSCRIBER_TOKENS and REDIS_URL from Secrets Manager or SSM, never from its plain environment', () => {
      const secrets = Object.fromEntries((container.secrets as Json[]).map((s) => [s.name, s.valueFrom]));
      expect(Object.keys(secrets).sort()).toEqual(['REDIS_URL', 'SUBSCRIBER_TOKENS']);
      for (const ref of Object.values(secrets)) expect(ref).toMatch(/^arn:aws:(secretsmanager|ssm):/);
      expect(Object.keys(ecsEnv)).not.toContain('SUBSCRIBER_TOKENS');
      expect(Object.keys(ecsEnv)).not.toContain('REDIS_URL');
    });

    it('sets only variables the application reads, JSON logs to CloudWatch, locked down, nofile above MAX_SUBSCRIBERS', () => {
      for (const name of Object.keys(ecsEnv)) expect(Object.keys(ENV_VARIABLES)).toContain(name);
      expect(ecsConfig.logFormat).toBe('json');
      expect(container.logConfiguration.logDriver).toBe('awslogs');
      expect(container.readonlyRootFilesystem).toBe(true);
      expect(container.user).toMatch(/^[1-9]\d*(:\d+)?$/);
      const nofile = (container.ulimits as Json[]).find((u) => u.name === 'nofile')!;
      // One descriptor per stream, and some for Redis, the logs and the POSTs.
      expect(nofile.softLimit).toBeGreaterThan(ecsConfig.maxSubscribers + 1000);
      expect(nofile.hardLimit).toBeGreaterThanOrEqual(nofile.softLimit);
    });
  });

  describe('ECS service and load balancer (deploy/ecs/service.yaml)', () => {
    const [service] = ofType('AWS::ECS::Service');
    const [targetGroup] = ofType('AWS::ElasticLoadBalancingV2::TargetGroup');
    const [loadBalancer] = ofType('AWS::ElasticLoadBalancingV2::LoadBalancer');
    const attribute = (r: Json, key: string, list = 'LoadBalancerAttributes') =>
      Number((r.Properties[list] as Json[]).find((a) => a.Key === key)?.Value);

    it('checks readiness on the container port, drains on deregistration, ramps new tasks up, idles longer than the heartbeat', () => {
      expect(targetGroup.Properties).toMatchObject({ HealthCheckPath: READINESS, Port: ecsConfig.port });
      expect(service.Properties.LoadBalancers).toEqual([
        expect.objectContaining({ ContainerName: container.name, ContainerPort: ecsConfig.port }),
      ]);
      expect(attribute(targetGroup, 'deregistration_delay.timeout_seconds', 'TargetGroupAttributes')).toBeGreaterThan(
        0,
      );
      // ALB's slow start takes 30 to 900 s; the service warms up within about 30 s of traffic.
      expect(attribute(targetGroup, 'slow_start.duration_seconds', 'TargetGroupAttributes')).toBeGreaterThanOrEqual(30);
      const idleMs = attribute(loadBalancer, 'idle_timeout.timeout_seconds') * 1000;
      expect(idleMs).toBeGreaterThan(ecsConfig.sseHeartbeatMs);
    });

    it('rolls out with 100% / 200% and rolls back through the circuit breaker', () => {
      expect(service.Properties.DeploymentConfiguration).toEqual({
        MinimumHealthyPercent: 100,
        MaximumPercent: 200,
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      });
      expect(service.Properties.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp).toBe('DISABLED');
    });

    it('serves HTTPS only, and forwards only the public paths', () => {
      const listeners = ofType('AWS::ElasticLoadBalancingV2::Listener').map((l) => l.Properties);
      const https = listeners.find((l) => l.Protocol === 'HTTPS')!;
      expect(https.Certificates).toHaveLength(1);
      expect(https.DefaultActions[0].Type).toBe('fixed-response');
      for (const l of listeners.filter((x) => x.Protocol !== 'HTTPS')) {
        expect(l.DefaultActions).toEqual([expect.objectContaining({ Type: 'redirect' })]);
      }
      const patterns = ofType('AWS::ElasticLoadBalancingV2::ListenerRule').flatMap((r) =>
        (r.Properties.Conditions as Json[]).flatMap((c) => c.PathPatternConfig.Values as string[]),
      );
      const forwarded = (path: string) =>
        patterns.some((p) =>
          new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(path),
        );
      for (const path of PUBLIC) expect([path, forwarded(path)]).toEqual([path, true]);
      for (const path of PRIVATE) expect([path, forwarded(path)]).toEqual([path, false]);
    });
  });

  describe('Kubernetes (deploy/kubernetes/)', () => {
    it('takes as many subscribers as fit its memory limit: MAX_SUBSCRIBERS unset, derived from the limit', () => {
      expect(k8sMemory).toBeGreaterThan(0);
      expect(Object.keys(k8sEnv)).not.toContain('MAX_SUBSCRIBERS');
      expect(k8sConfig.maxSubscribers).toBeLessThan(10_000);
      expect(subscribersBudget(k8sConfig)).toBeLessThanOrEqual(k8sMemory * 0.8);
    });

    it('the kustomization`s objects exist, parse, and point at each other (the Service, the Ingress, the PDB)', () => {
      const resources = yamlFile('deploy/kubernetes/kustomization.yaml').resources as string[];
      const objects = resources.map((f) => yamlFile(`deploy/kubernetes/${f}`));
      for (const o of objects) expect(o).toMatchObject({ apiVersion: expect.any(String), kind: expect.any(String) });
      const byKind = Object.fromEntries(objects.map((o) => [o.kind, o]));
      expect(Object.keys(byKind).sort()).toEqual(['Deployment', 'Ingress', 'PodDisruptionBudget', 'Service']);
      const podLabels = byKind.Deployment.spec.template.metadata.labels as Record<string, string>;
      expect(podLabels).toMatchObject(byKind.Deployment.spec.selector.matchLabels);
      expect(podLabels).toMatchObject(byKind.Service.spec.selector);
      expect(podLabels).toMatchObject(byKind.PodDisruptionBudget.spec.selector.matchLabels);
      const servicePort = (byKind.Service.spec.ports as Json[])[0];
      expect(servicePort.targetPort).toBe(k8sContainer.ports[0].name);
      for (const p of ingress.spec.rules.flatMap((r: Json) => r.http.paths) as Json[]) {
        expect(p.backend.service).toEqual({ name: byKind.Service.metadata.name, port: { name: servicePort.name } });
      }
      // The Secret the pods read is the one the example describes.
      const secret = yamlFile('deploy/kubernetes/secret.example.yaml');
      for (const e of (k8sContainer.env as Json[]).filter((x) => x.valueFrom?.secretKeyRef)) {
        expect(e.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
        expect(Object.keys(secret.stringData)).toContain(e.valueFrom.secretKeyRef.key);
      }
    });

    it('probes liveness and readiness on the container port', () => {
      expect(k8sContainer.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: k8sConfig.port })]);
      expect(k8sContainer.livenessProbe.httpGet).toEqual({ path: LIVENESS, port: 'http' });
      expect(k8sContainer.readinessProbe.httpGet).toEqual({ path: READINESS, port: 'http' });
    });

    it('gives a stopping pod more time than the preStop pause, the drain and SHUTDOWN_TIMEOUT_MS', () => {
      const command = (k8sContainer.lifecycle?.preStop?.exec?.command ?? []) as string[];
      const preStopMs = command[0] === 'sleep' ? duration(command[1]) : 0;
      expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
        preStopMs + drainMs(k8sConfig) + k8sConfig.shutdownTimeoutMs,
      );
    });

    it('takes SUBSCRIBER_TOKENS and REDIS_URL from a Secret and sets only variables the application reads', () => {
      const fromSecret = (k8sContainer.env as Json[]).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.name);
      expect(fromSecret.sort()).toEqual(['REDIS_URL', 'SUBSCRIBER_TOKENS']);
      for (const e of k8sContainer.env as Json[]) expect(Object.keys(ENV_VARIABLES)).toContain(e.name);
      expect(k8sContainer.securityContext).toMatchObject({ readOnlyRootFilesystem: true });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
    });

    it('the ingress: TLS, SSE settings matching the configuration, only the public paths', () => {
      const annotations = ingress.metadata.annotations as Record<string, string>;
      expect(ingress.spec.tls[0].hosts).toEqual(ingress.spec.rules.map((r: Json) => r.host));
      expect(annotations['nginx.ingress.kubernetes.io/force-ssl-redirect']).toBe('true');
      expect(duration(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(
        k8sConfig.sseHeartbeatMs,
      );
      expect(size(annotations['nginx.ingress.kubernetes.io/proxy-body-size'])).toBe(k8sConfig.maxEventBytes);
      const paths = ingress.spec.rules.flatMap((r: Json) => r.http.paths) as Json[];
      const routed = (url: string) =>
        paths.some((p) =>
          p.pathType === 'Exact' ? url === p.path : url === p.path || url.startsWith(`${p.path.replace(/\/$/, '')}/`),
        );
      for (const path of PUBLIC) expect([path, routed(path)]).toEqual([path, true]);
      for (const path of PRIVATE) expect([path, routed(path)]).toEqual([path, false]);
    });
  });

  describe('docker-compose.yml and deploy/nginx.conf', () => {
    it('pins every image to a minor version at least', () => {
      for (const s of Object.values(compose.services as Record<string, Json>).filter((x) => x.image)) {
        expect(s.image).toMatch(/:\d+\.\d+/);
      }
    });

    it('the dispatcher: SUBSCRIBER_TOKENS from a secret, no published port, stops later than the drain and timeout', () => {
      const dispatcher = compose.services.dispatcher as Json;
      expect(dispatcher.environment).not.toHaveProperty('SUBSCRIBER_TOKENS');
      expect(dispatcher.secrets).toContain('subscriber_tokens');
      expect(dispatcher.command.join(' ')).toContain('SUBSCRIBER_TOKENS="$$(cat /run/secrets/subscriber_tokens)"');
      expect(dispatcher.ports).toBeUndefined();
      expect(duration(dispatcher.stop_grace_period)).toBeGreaterThan(
        drainMs(composeConfig) + composeConfig.shutdownTimeoutMs,
      );
    });

    it('nginx: TLS, the upstream on the configured port, body limit and read timeout matching the configuration', () => {
      expect(compose.services.nginx.ports).toContain('8443:8443');
      expect(nginx).toMatch(/listen 8443 ssl;/);
      expect(nginx).toMatch(new RegExp(`server dispatcher:${composeConfig.port}\\b`));
      expect(size(/client_max_body_size (\S+);/.exec(nginx)![1])).toBe(composeConfig.maxEventBytes);
      expect(nginx).toContain(`larger than ${composeConfig.maxEventBytes} bytes`);
      expect(duration(/proxy_read_timeout (\S+);/.exec(nginx)![1])).toBeGreaterThan(composeConfig.sseHeartbeatMs);
    });
  });
});
