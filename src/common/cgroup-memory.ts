import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import path from 'node:path';

/** Where the cgroup files are, and this process's line(s) of /proc/self/cgroup; both replaceable by tests. */
export interface CgroupSource {
  readonly root: string;
  readonly procSelfCgroup: string;
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function systemSource(): CgroupSource {
  return { root: '/sys/fs/cgroup', procSelfCgroup: readOrUndefined('/proc/self/cgroup') ?? '' };
}

/** `/a/b` -> [`/a/b`, `/a`, `/`]: a limit set on any ancestor applies too. */
function withAncestors(cgroupPath: string): string[] {
  const out: string[] = [];
  for (let dir = path.posix.normalize(cgroupPath || '/'); ; dir = path.posix.dirname(dir)) {
    out.push(dir);
    if (dir === '/') return out;
  }
}

function parseLimit(raw: string | undefined): number | undefined {
  const value = raw?.trim();
  // cgroup v2 writes `max` for no limit; v1 writes a huge number (PAGE_COUNTER_MAX pages), above any real memory.
  if (!value || !/^\d+$/.test(value)) return undefined;
  const bytes = Number(value);
  return bytes > 0 && bytes < totalmem() * 4 ? bytes : undefined;
}

/**
 * The memory limit of this process's cgroup in bytes (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`, the
 * smallest along the path to the root), or undefined when there is none: no container limit, or no cgroup files.
 */
export function cgroupMemoryLimit(source: CgroupSource = systemSource()): number | undefined {
  const lines = source.procSelfCgroup.split('\n').map((line) => line.trim().split(':'));
  // v2: `0::/path`; v1: `4:memory:/path` (possibly among other controllers, `4:memory,foo:/path`).
  const v2 = lines.find((f) => f.length >= 3 && f[0] === '0' && f[1] === '');
  const v1 = lines.find((f) => f.length >= 3 && f[1].split(',').includes('memory'));
  const limits: number[] = [];
  const consider = (file: string) => {
    const limit = parseLimit(readOrUndefined(file));
    if (limit !== undefined) limits.push(limit);
  };
  // Inside a container with its own cgroup namespace the path is `/` and the files are at the root.
  for (const dir of withAncestors(v2?.slice(2).join(':') ?? '/')) consider(path.join(source.root, dir, 'memory.max'));
  for (const dir of withAncestors(v1?.slice(2).join(':') ?? '/')) {
    consider(path.join(source.root, 'memory', dir, 'memory.limit_in_bytes'));
  }
  return limits.length ? Math.min(...limits) : undefined;
}
