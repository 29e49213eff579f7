// Types of console-model.js, for the unit spec that runs it under Node (the page itself is plain JavaScript).
export declare const NONE: string;
export declare const OTHER: string;
export declare const UNKNOWN: string;
export declare const DEFAULT_HEARTBEAT_MS: number;

export interface ConsoleEvent {
  seq: number;
  receivedAt: number;
  raw: string;
  name: string;
  /** The name it is counted and charted under: `name`, NONE, or OTHER past the distinct-name limit. */
  group: string;
  session: string;
  platform: string;
  version: string;
  media: string;
  ip: string;
  message: string;
  errorName: string;
}

export declare class Ring<T> {
  constructor(capacity: number);
  readonly length: number;
  push(item: T): void;
  newest(): IterableIterator<T>;
}

export declare class ConsoleModel {
  constructor(options?: {
    seconds?: number;
    maxEvents?: number;
    maxErrors?: number;
    maxNames?: number;
    maxPlatforms?: number;
    maxSessions?: number;
  });
  readonly total: number;
  readonly malformed: number;
  readonly latest: Ring<ConsoleEvent>;
  readonly errors: Ring<ConsoleEvent>;
  readonly activeWindowMs: number;
  /** How many distinct values `ConsoleEvent.group` takes at most. */
  readonly maxGroups: number;
  add(raw: string, receivedAt?: number): ConsoleEvent | undefined;
  activeSessions(now?: number): { total: number; byPlatform: Array<[string, number]> };
  series(now?: number, count?: number): { seconds: number[]; series: Map<string, number[]> };
  rate(now?: number, window?: number): number;
  find(filter?: { name?: string; text?: string }, limit?: number): ConsoleEvent[];
  /** Events counted under `group` since the start. */
  count(group: string): number;
  byName(): Array<[string, number]>;
  byPlatform(): Array<[string, number]>;
}
