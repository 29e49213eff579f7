import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cgroupMemoryLimit } from './cgroup-memory.js';

const MiB = 1024 * 1024;

describe('cgroupMemoryLimit', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), 'cgroup-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function write(file: string, content: string): void {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }

  it('reads cgroup v2 memory.max inside a container (namespace root)', () => {
    write('memory.max', `${512 * MiB}\n`);
    expect(cgroupMemoryLimit({ root, procSelfCgroup: '0::/\n' })).toBe(512 * MiB);
  });

  it('takes the smallest limit along the cgroup v2 path', () => {
    write('kubepods/memory.max', `${2048 * MiB}\n`);
    write('kubepods/pod1/memory.max', `${256 * MiB}\n`);
    write('kubepods/pod1/app/memory.max', 'max\n');
    expect(cgroupMemoryLimit({ root, procSelfCgroup: '0::/kubepods/pod1/app\n' })).toBe(256 * MiB);
  });

  it('reads cgroup v1 memory.limit_in_bytes of the memory controller', () => {
    write('memory/docker/abc/memory.limit_in_bytes', `${300 * MiB}\n`);
    const procSelfCgroup = '5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n';
    expect(cgroupMemoryLimit({ root, procSelfCgroup })).toBe(300 * MiB);
  });

  it('reports no limit for v2 `max`, the v1 "unlimited" number, or no cgroup files', () => {
    write('memory.max', 'max\n');
    expect(cgroupMemoryLimit({ root, procSelfCgroup: '0::/\n' })).toBeUndefined();
    write('memory/memory.limit_in_bytes', '9223372036854771712\n');
    expect(cgroupMemoryLimit({ root, procSelfCgroup: '4:memory:/\n' })).toBeUndefined();
    expect(cgroupMemoryLimit({ root: path.join(root, 'missing'), procSelfCgroup: '' })).toBeUndefined();
  });

  it('ignores a file that is not a number', () => {
    write('memory.max', 'garbage\n');
    expect(cgroupMemoryLimit({ root, procSelfCgroup: '0::/\n' })).toBeUndefined();
  });
});
