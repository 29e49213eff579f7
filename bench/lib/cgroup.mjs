// cgroup v1 groups for the servers the benchmark starts (--cgroup, the capacity scenario): a CPU quota (the cpu
// controller's CFS quota per 100 ms period) and a memory limit (the memory controller's), as an ECS task or a
// Kubernetes pod gets them. Each group is made under this process's own group of that controller (as
// /proc/self/cgroup gives it), so that the benchmark needs no more rights than over its own group; only the server
// process joins it, and the group is removed once the server has stopped.
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from './util.mjs';

const PERIOD_US = 100_000;
const CONTROLLERS = ['cpu', 'memory'];

/** Groups made and not removed yet: removed on exit at the latest. */
const made = new Set();
let serial = 0;

/** Why a group cannot be made, as one line for the user. */
export class CgroupError extends Error {}

/** The mount point and root of the v1 hierarchy that holds `controller`, from /proc/self/mountinfo. */
function mountOf(controller) {
  let text;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (err) {
    throw new CgroupError(`cannot read /proc/self/mountinfo (${err.code ?? err.message})`);
  }
  for (const line of text.split('\n')) {
    // id parent major:minor root mount-point options [optional fields] - fstype source super-options
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype !== 'cgroup' || !superOptions.split(',').includes(controller)) continue;
    const fields = left.split(' ');
    return { root: fields[3], mountPoint: fields[4].replace(/\\040/g, ' ') };
  }
  return null;
}

/** This process's directory in the v1 hierarchy of `controller`. */
function ownDir(controller) {
  let text;
  try {
    text = fs.readFileSync('/proc/self/cgroup', 'utf8');
  } catch (err) {
    throw new CgroupError(`cannot read /proc/self/cgroup (${err.code ?? err.message})`);
  }
  const line = text
    .split('\n')
    .map((l) => l.split(':'))
    .find(([, controllers]) => controllers?.split(',').includes(controller));
  const mount = mountOf(controller);
  if (!line || !mount) {
    throw new CgroupError(`no cgroup v1 hierarchy with the ${controller} controller (see /proc/self/cgroup)`);
  }
  const own = line.slice(2).join(':');
  // In a cgroup namespace the hierarchy may be mounted from below its root: the path is then relative to that.
  const relative = mount.root !== '/' && own.startsWith(mount.root) ? own.slice(mount.root.length) : own;
  return path.join(mount.mountPoint, relative);
}

function write(file, value) {
  try {
    fs.writeFileSync(file, String(value));
  } catch (err) {
    throw new CgroupError(`cannot write ${value} to ${file} (${err.code ?? err.message})`);
  }
}

function readNumber(file) {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
}

/** `key value` lines (memory.oom_control, cpu.stat) as an object of numbers. */
function readPairs(file) {
  try {
    return Object.fromEntries(
      fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/))
        .map(([k, v]) => [k, Number(v)]),
    );
  } catch {
    return null;
  }
}

/** The processes in a group's directory (its cgroup.procs). */
function procsOf(dir) {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Whether groups can be made here: throws a CgroupError naming the problem (not root, no v1 hierarchy, a directory
 * that cannot be made or written) after trying to make one and removing it.
 */
export function checkCgroups() {
  if (process.getuid?.() !== 0) throw new CgroupError('cgroups need root: the benchmark does not run as root');
  const probe = makeCgroup({ cpuMs: 100, memoryMiB: 1024 });
  probe.removeSync();
}

/**
 * Makes a group with `cpuMs` ms of CPU per 100 ms period (25: a quarter of a CPU) and `memoryMiB` MiB of memory.
 * @returns `{ dirs, limits, wrap(file, args), stats(), resetPeak(), remove(), removeSync() }`: `wrap` gives the
 *   arguments of spawn() that put the command into the group before it starts (its process joins, exec keeps it).
 */
export function makeCgroup({ cpuMs, memoryMiB }) {
  const name = `pillarbox-bench-${process.pid}-${++serial}`;
  const dirOf = Object.fromEntries(CONTROLLERS.map((c) => [c, path.join(ownDir(c), name)]));
  // Controllers mounted together share one directory.
  const dirs = [...new Set(Object.values(dirOf))];
  const group = { name, dirs, limits: { cpu_ms: cpuMs, memory_mib: memoryMiB } };
  made.add(group);
  try {
    for (const dir of dirs) {
      try {
        fs.mkdirSync(dir);
      } catch (err) {
        throw new CgroupError(`cannot make the cgroup ${dir} (${err.code ?? err.message})`);
      }
    }
    write(path.join(dirOf.cpu, 'cpu.cfs_period_us'), PERIOD_US);
    write(path.join(dirOf.cpu, 'cpu.cfs_quota_us'), cpuMs * 1000);
    write(path.join(dirOf.memory, 'memory.limit_in_bytes'), memoryMiB * 1024 * 1024);
  } catch (err) {
    removeSync(group);
    throw err;
  }

  let last = null;
  const mem = (file) => path.join(dirOf.memory, file);
  /** The group's figures; once it is removed, the last ones read. */
  const stats = () => {
    if (!fs.existsSync(dirOf.memory)) return last;
    const oom = readPairs(mem('memory.oom_control'));
    const cpu = readPairs(path.join(dirOf.cpu, 'cpu.stat'));
    last = {
      cpu_ms_per_100ms: cpuMs,
      memory_limit_bytes: readNumber(mem('memory.limit_in_bytes')),
      memory_usage_bytes: readNumber(mem('memory.usage_in_bytes')),
      memory_peak_bytes: readNumber(mem('memory.max_usage_in_bytes')),
      // The `oom_kill` line exists from Linux 4.13 on.
      oom_kills: oom?.oom_kill ?? 0,
      cpu_periods: cpu?.nr_periods ?? null,
      cpu_throttled_periods: cpu?.nr_throttled ?? null,
      cpu_throttled_s: cpu?.throttled_time == null ? null : cpu.throttled_time / 1e9,
    };
    return last;
  };
  return Object.assign(group, {
    // $0 is the cpu group's cgroup.procs, $1 the memory group's: the shell joins both, then becomes the command.
    wrap: (file, args) => [
      'sh',
      [
        '-c',
        'echo $$ > "$0" && echo $$ > "$1" || exit 97; shift; exec "$@"',
        path.join(dirOf.cpu, 'cgroup.procs'),
        path.join(dirOf.memory, 'cgroup.procs'),
        file,
        ...args,
      ],
    ],
    stats,
    /** Starts the peak memory anew (a server reused by several scenarios). */
    resetPeak: () => {
      try {
        fs.writeFileSync(mem('memory.max_usage_in_bytes'), '0');
      } catch {
        // an old kernel: the peak is the server's whole life
      }
    },
    /** Reads the last figures, then removes the group once its processes are gone (a few retries). */
    remove: async () => {
      if (!made.has(group)) return;
      stats();
      for (let i = 0; i < 30 && !removeSync(group, { kill: i === 20 }); i++) await sleep(100);
    },
    removeSync: () => removeSync(group, { kill: true }),
  });
}

/**
 * Removes the group's directories; true when they are gone. With `kill`, what is still in the group is sent
 * SIGKILL first: only the server the benchmark put there, and what it started.
 */
function removeSync(group, { kill = false } = {}) {
  let gone = true;
  for (const dir of group.dirs) {
    if (kill) {
      for (const pid of procsOf(dir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      if (err.code !== 'ENOENT') gone = false;
    }
  }
  if (gone) made.delete(group);
  return gone;
}

/** Removes every group still there (the end of a run, also a cut-short one). */
export async function removeAllCgroups() {
  await Promise.all([...made].map((group) => group.remove?.() ?? removeSync(group)));
}

// Last resort, e.g. an uncaught error: the processes are killed and the directories removed as far as they can be
// right away (a process killed here may take a moment to leave its group; the server's watcher shell removes the
// directories after it, see watched() in util.mjs).
process.on('exit', () => {
  for (const group of made) removeSync(group, { kill: true });
});

/** `25,512` as `{ cpuMs: 25, memoryMiB: 512 }`, or null when it is not two positive integers. */
export function parseCgroupOption(text) {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(text ?? '');
  if (!m) return null;
  const [cpuMs, memoryMiB] = [Number(m[1]), Number(m[2])];
  return cpuMs >= 1 && memoryMiB >= 1 ? { cpuMs, memoryMiB } : null;
}

/** The limits for a table: `0.25 CPU (25 ms per 100 ms), 512 MiB`. */
export function describeLimits({ cpu_ms: cpuMs, memory_mib: memoryMiB }) {
  return `${cpuMs / 100} CPU (${cpuMs} ms per 100 ms), ${memoryMiB} MiB`;
}
