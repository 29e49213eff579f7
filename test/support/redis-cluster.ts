import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import { spawnRedisServer } from './redis-server.js';

const REDIS_CLI = process.env.REDIS_CLI_BIN || 'redis-cli';

/** One node of the cluster: a redis-server in cluster mode, its node table in its own folder. */
class ClusterNode {
  private child?: ChildProcess;

  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get running(): boolean {
    const child = this.child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  /**
   * Starts the node; after a restart it reads its node table (nodes.conf) back and rejoins the cluster with its
   * slots, as a node restarted by an operator does.
   */
  start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', path.join(this.dir, 'nodes.conf'));
    // Failures are noticed within 2 s instead of 15: the specs kill a node and wait for the cluster to see it.
    args.push('--cluster-node-timeout', '2000', '--dir', this.dir);
    return spawnRedisServer(args, `redis-server (cluster node) on port ${this.port}`).then((child) => {
      this.child = child;
    });
  }

  /** SIGKILL (no goodbye to the clients or the other nodes), and waits until the process has exited. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}

function cli(port: number, ...args: string[]): string {
  const result = spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/**
 * A real Redis Cluster of three masters on 127.0.0.1 (no replicas, nothing stored), made with
 * `redis-cli --cluster create` as an operator would, and stopped by the test.
 */
export class RedisCluster {
  private constructor(
    private readonly nodes: ClusterNode[],
    private readonly dir: string,
  ) {}

  static async start(size = 3): Promise<RedisCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'redis-cluster-'));
    const nodes: ClusterNode[] = [];
    for (let i = 0; i < size; i++) {
      const nodeDir = path.join(dir, String(i));
      mkdirSync(nodeDir);
      nodes.push(new ClusterNode(await freePort(), nodeDir));
    }
    const cluster = new RedisCluster(nodes, dir);
    try {
      await Promise.all(nodes.map((node) => node.start()));
      const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
      cli(nodes[0].port, '--cluster', 'create', ...addresses, '--cluster-yes');
      await cluster.waitUntilOk();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get ports(): number[] {
    return this.nodes.map((node) => node.port);
  }

  /** The seed URLs, comma-separated, as REDIS_URL takes them with REDIS_CLUSTER=true. */
  get url(): string {
    return this.nodes.map((node) => `redis://127.0.0.1:${node.port}`).join(',');
  }

  /** The port of the master that owns the slot of `channel` (CLUSTER KEYSLOT, then CLUSTER NODES). */
  ownerOf(channel: string): number {
    const live = this.nodes.find((node) => node.running);
    if (!live) throw new Error('no cluster node is running');
    const slot = Number(cli(live.port, 'CLUSTER', 'KEYSLOT', channel).trim());
    for (const line of cli(live.port, 'CLUSTER', 'NODES').trim().split('\n')) {
      // <id> <ip:port@cport> <flags> <master> <ping-sent> <pong-recv> <config-epoch> <link-state> <slot ranges...>
      const [, address, flags, ...rest] = line.split(' ');
      const ranges = rest.slice(5);
      if (!flags.includes('master')) continue;
      for (const range of ranges) {
        const [from, to = from] = range.split('-').map(Number);
        if (slot >= from && slot <= to) return Number(address.split('@')[0].split(':').pop());
      }
    }
    throw new Error(`no master owns slot ${slot}`);
  }

  async kill(port: number): Promise<void> {
    await this.node(port).kill();
  }

  /** Starts a killed node again on its port; it rejoins with its slots. */
  async restart(port: number): Promise<void> {
    const node = this.node(port);
    await node.kill();
    await node.start();
    await this.waitUntilOk();
  }

  /** Waits until every running node reports cluster_state:ok (all slots served). */
  async waitUntilOk(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = this.nodes
        .filter((node) => node.running)
        .map((node) => /cluster_state:(\w+)/.exec(cli(node.port, 'CLUSTER', 'INFO'))?.[1]);
      if (states.length === this.nodes.length && states.every((state) => state === 'ok')) return;
      if (Date.now() > deadline) throw new Error(`cluster not ok after ${timeoutMs} ms: ${states.join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private node(port: number): ClusterNode {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no cluster node on port ${port}`);
    return node;
  }
}
