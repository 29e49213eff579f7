import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Memory before and after collectStartupGarbage, in MB. */
export interface StartupGarbage {
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
  /** How long the collection took, in ms. */
  readonly took: number;
}

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;

/** The `gc` function of V8, made for a new context while --expose-gc is on for that moment only. */
function gcFunction(): GcFunction | undefined {
  // Started with --expose-gc (NODE_OPTIONS): the operator's function, and the flag left as it is.
  const own = (globalThis as { gc?: GcFunction }).gc;
  if (typeof own === 'function') return own;
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('typeof gc === "function" ? gc : undefined') as GcFunction | undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/**
 * One full garbage collection of the kind V8 runs when memory runs out ("last resort": it also shrinks the young
 * generation to its smallest size), for the service to call once its modules are loaded and before it connects
 * to anything or serves. The start-up leaves garbage behind (module code compiled once, Nest's scan of the
 * modules) and a young generation grown to its largest; V8 keeps both while the instance is idle, since it looks
 * for memory to give back only while the process allocates: about 4.5 MB of RSS (docs/performance.md). Requests
 * grow the young generation again as they need it. V8 gives its `gc` function only to the contexts made while
 * --expose-gc is on: the flag is turned off again at once, so that nothing else gets one.
 * @returns the memory before and after, or undefined if this Node gives no `gc` function or it failed: the
 *   service starts all the same.
 */
export function collectStartupGarbage(): StartupGarbage | undefined {
  const before = process.memoryUsage();
  const start = performance.now();
  try {
    const gc = gcFunction();
    if (!gc) return undefined;
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  } catch {
    return undefined;
  }
  const took = Math.round(performance.now() - start);
  const after = process.memoryUsage();
  return {
    heapBefore: mb(before.heapTotal),
    heapAfter: mb(after.heapTotal),
    rssBefore: mb(before.rss),
    rssAfter: mb(after.rss),
    took,
  };
}
