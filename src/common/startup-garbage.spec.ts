import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectStartupGarbage } from './startup-garbage.js';

/** Bytes the young generation holds from the system now. */
function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0;
}

describe('collectStartupGarbage', () => {
  it('shrinks the young generation that a burst of allocations grew, and reports the heap before and after', () => {
    // Short-lived objects, as a start-up leaves: the young generation grows to make room for them.
    let kept = 0;
    for (let i = 0; i < 200_000; i++) kept += new Array(16).fill(i).length;
    expect(kept).toBe(3_200_000);
    const grown = youngGenerationBytes();

    const memory = collectStartupGarbage();

    expect(youngGenerationBytes()).toBeLessThan(grown);
    expect(memory).toBeDefined();
    expect(memory!.heapAfter).toBeLessThan(memory!.heapBefore);
    expect(memory!.rssBefore).toBeGreaterThan(0);
    expect(memory!.rssAfter).toBeGreaterThan(0);
    expect(memory!.took).toBeGreaterThanOrEqual(0);
  });

  it('leaves no gc function behind: neither here nor in contexts made later', () => {
    collectStartupGarbage();

    expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined');
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });

  describe('when the process was started with --expose-gc', () => {
    const global = globalThis as { gc?: unknown };
    afterEach(() => delete global.gc);

    it("uses the operator's gc function, for a last-resort collection", () => {
      const calls: unknown[] = [];
      global.gc = (options: unknown) => calls.push(options);

      expect(collectStartupGarbage()).toBeDefined();
      expect(calls).toEqual([{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
    });

    it('returns undefined when the collection throws: the service starts all the same', () => {
      global.gc = () => {
        throw new Error('not supported');
      };

      expect(collectStartupGarbage()).toBeUndefined();
    });
  });
});
