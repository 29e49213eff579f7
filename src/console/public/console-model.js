// What the console knows about the stream: counters, per-second series, the latest events and errors,
// active sessions. No DOM here (unit-tested under Node). Every collection is bounded, whatever arrives:
// event names and platforms come from players and are not trusted to be few.

/** Shown for events without the field. */
export const NONE = '(none)';
/** The platform of an event whose session's START was not seen. */
export const UNKNOWN = '(unknown)';
/** Where names past the distinct-value limit are counted. */
export const OTHER = '(other)';

/** The heartbeat period assumed until one is measured (Pillarbox players send one every 30 s). */
export const DEFAULT_HEARTBEAT_MS = 30_000;

/** A silent session is forgotten after this many active windows (or 10 minutes, if longer). */
const FORGET_AFTER_WINDOWS = 10;

/**
 * The text shown for a field of an untrusted event. Objects are shown as JSON: converting them with String() would
 * call their own `toString`, which an event may set to anything (`{"toString": null}` throws).
 */
function text(value) {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return value === null ? '' : json(value);
    default:
      return '';
  }
}

function json(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return ''; // nested too deep for the stack
  }
}

/** `object[key]` if `object` holds it itself: a missing key must not be looked up in Object.prototype. */
function own(object, key) {
  return object !== null && typeof object === 'object' && Object.hasOwn(object, key) ? object[key] : undefined;
}

/** `object[key]` if it is itself an object, else an empty one. */
function ownObject(object, key) {
  const value = own(object, key);
  return value !== null && typeof value === 'object' ? value : EMPTY;
}

const EMPTY = Object.freeze({});

/** A counter by key that holds at most `limit` keys; later new keys are counted under OTHER. */
class BoundedCounter {
  constructor(limit, empty = NONE) {
    this.limit = limit;
    this.empty = empty;
    this.counts = new Map();
  }

  key(raw) {
    const key = raw === '' ? this.empty : raw;
    return this.counts.has(key) || this.counts.size < this.limit ? key : OTHER;
  }

  add(raw) {
    const key = this.key(raw);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    return key;
  }

  /** [key, count] pairs, largest first. */
  sorted() {
    return [...this.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  }
}

/** A fixed-size ring of the latest items, newest first when read. */
export class Ring {
  constructor(capacity) {
    this.items = new Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  push(item) {
    const capacity = this.items.length;
    this.items[(this.start + this.length) % capacity] = item;
    if (this.length < capacity) this.length++;
    else this.start = (this.start + 1) % capacity;
  }

  /** Newest first. */
  *newest() {
    const capacity = this.items.length;
    for (let i = this.length - 1; i >= 0; i--) yield this.items[(this.start + i) % capacity];
  }
}

/**
 * One event as the console shows it. `raw` is the JSON text as received (shown whole on click); the other
 * fields are taken from it once.
 */
export function describe(event, raw, receivedAt, seq) {
  const data = ownObject(event, 'data');
  const player = ownObject(data, 'player');
  return {
    seq,
    receivedAt,
    raw,
    name: text(own(event, 'event_name')),
    /** The name it is counted and charted under: itself, or OTHER past the distinct-name limit (set by the model). */
    group: '',
    session: text(own(event, 'session_id')),
    platform: text(own(player, 'platform')),
    version: text(own(player, 'version')),
    media: text(own(ownObject(data, 'media'), 'id')),
    ip: text(own(event, 'user_ip')),
    message: text(own(data, 'message')),
    errorName: text(own(data, 'name')),
  };
}

export class ConsoleModel {
  /**
   * @param {object} [options]
   * @param {number} [options.seconds] length of the per-second series
   * @param {number} [options.maxEvents] latest events kept for the table
   * @param {number} [options.maxErrors] latest errors kept
   * @param {number} [options.maxNames] distinct event names counted apart
   * @param {number} [options.maxPlatforms] distinct platforms counted apart
   * @param {number} [options.maxSessions] sessions followed at once
   */
  constructor({
    seconds = 300,
    maxEvents = 1000,
    maxErrors = 50,
    maxNames = 40,
    maxPlatforms = 20,
    maxSessions = 100_000,
  } = {}) {
    this.seconds = seconds;
    this.total = 0;
    this.malformed = 0;
    this.names = new BoundedCounter(maxNames);
    this.platforms = new BoundedCounter(maxPlatforms, UNKNOWN);
    this.latest = new Ring(maxEvents);
    this.errors = new Ring(maxErrors);
    // Per-second buckets in a ring indexed by the second: bucket i holds second `bucketSecond[i]`.
    this.buckets = Array.from({ length: seconds }, () => new Map());
    this.bucketSecond = new Array(seconds).fill(-1);
    this.maxSessions = maxSessions;
    /**
     * session id -> { lastSeen, platform, version, media, lastHeartbeat }: sessions started (START seen) and not
     * ended. Only a START carries the player and the media: the session's later events are shown with them, even
     * after a silence that made the session inactive; a session silent for much longer is forgotten.
     */
    this.sessions = new Map();
    this.heartbeatMs = undefined;
  }

  /** Adds one event from the stream: `raw` is its JSON text. Returns the described event, or undefined. */
  add(raw, receivedAt = Date.now()) {
    let event;
    try {
      event = JSON.parse(raw);
    } catch {
      this.malformed++;
      return undefined;
    }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) {
      this.malformed++;
      return undefined;
    }
    const entry = describe(event, raw, receivedAt, ++this.total);
    this.followSession(entry);
    entry.group = this.names.add(entry.name);
    this.platforms.add(entry.platform);
    this.countSecond(entry.group, receivedAt);
    this.latest.push(entry);
    if (entry.name === 'ERROR') this.errors.push(entry);
    return entry;
  }

  countSecond(name, at) {
    const second = Math.floor(at / 1000);
    const i = second % this.seconds;
    if (this.bucketSecond[i] !== second) {
      this.bucketSecond[i] = second;
      this.buckets[i].clear();
    }
    const bucket = this.buckets[i];
    bucket.set(name, (bucket.get(name) ?? 0) + 1);
  }

  followSession(entry) {
    const id = entry.session;
    if (!id) return;
    const at = entry.receivedAt;
    let session = this.sessions.get(id);
    if (!session) {
      if (entry.name !== 'START') return; // only sessions whose START was seen are followed
      if (this.sessions.size >= this.maxSessions) this.sessions.delete(this.sessions.keys().next().value);
      session = { lastSeen: at, platform: '', version: '', media: '', lastHeartbeat: undefined };
      this.sessions.set(id, session);
    }
    for (const field of ['platform', 'version', 'media']) {
      if (entry[field]) session[field] = entry[field];
      else entry[field] = session[field];
    }
    if (entry.name === 'STOP' || entry.name === 'ERROR') {
      this.sessions.delete(id);
      return;
    }
    session.lastSeen = at;
    if (entry.name === 'HEARTBEAT') {
      if (session.lastHeartbeat !== undefined) this.measureHeartbeat(at - session.lastHeartbeat);
      session.lastHeartbeat = at;
    }
  }

  /** Follows the players' heartbeat period from the gaps between heartbeats of one session. */
  measureHeartbeat(gap) {
    if (gap < 500 || gap > 600_000) return;
    this.heartbeatMs = this.heartbeatMs === undefined ? gap : this.heartbeatMs * 0.9 + gap * 0.1;
  }

  /** How long a started session stays active without news: two heartbeat periods. */
  get activeWindowMs() {
    return 2 * (this.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  }

  /**
   * Sessions with a START and no STOP or ERROR, heard from within two heartbeat periods. Forgets sessions silent
   * for much longer.
   * @returns {{ total: number, byPlatform: Array<[string, number]> }}
   */
  activeSessions(now = Date.now()) {
    const since = now - this.activeWindowMs;
    const forgetBefore = now - Math.max(FORGET_AFTER_WINDOWS * this.activeWindowMs, 600_000);
    const byPlatform = new Map();
    let total = 0;
    for (const [id, session] of this.sessions) {
      if (session.lastSeen < since) {
        if (session.lastSeen < forgetBefore) this.sessions.delete(id);
        continue;
      }
      total++;
      const platform = session.platform || UNKNOWN;
      byPlatform.set(platform, (byPlatform.get(platform) ?? 0) + 1);
    }
    return { total, byPlatform: [...byPlatform].sort((a, b) => b[1] - a[1]) };
  }

  /**
   * The per-second counts of the `count` whole seconds before the current one, oldest first:
   * `{ seconds: number[], series: Map<name, number[]> }`.
   */
  series(now = Date.now(), count = this.seconds - 1) {
    const current = Math.floor(now / 1000);
    const seconds = [];
    const series = new Map();
    const n = Math.min(count, this.seconds - 1);
    for (let k = 0; k < n; k++) {
      const second = current - n + k;
      seconds.push(second);
      const i = ((second % this.seconds) + this.seconds) % this.seconds;
      if (this.bucketSecond[i] !== second) continue;
      for (const [name, c] of this.buckets[i]) {
        let values = series.get(name);
        if (!values) series.set(name, (values = new Array(n).fill(0)));
        values[k] = c;
      }
    }
    return { seconds, series };
  }

  /** Events per second over the `window` whole seconds before the current one. */
  rate(now = Date.now(), window = 5) {
    const current = Math.floor(now / 1000);
    let sum = 0;
    for (let second = current - window; second < current; second++) {
      const i = ((second % this.seconds) + this.seconds) % this.seconds;
      if (this.bucketSecond[i] !== second) continue;
      for (const c of this.buckets[i].values()) sum += c;
    }
    return sum / window;
  }

  /** Latest events, newest first, that pass the table's filters; at most `limit`. */
  find({ name = '', text = '' } = {}, limit = 100) {
    const needle = text.trim().toLowerCase();
    const found = [];
    for (const entry of this.latest.newest()) {
      if (name && entry.name !== name) continue;
      if (needle && !entry.session.toLowerCase().includes(needle) && !entry.media.toLowerCase().includes(needle)) {
        continue;
      }
      found.push(entry);
      if (found.length >= limit) break;
    }
    return found;
  }

  /** How many distinct values `group` takes at most: the names counted apart, and OTHER. */
  get maxGroups() {
    return this.names.limit + 1;
  }

  /** Events counted under `group` (an event name, NONE or OTHER) since the start. */
  count(group) {
    return this.names.counts.get(group) ?? 0;
  }

  /** Counts by event name, largest first. */
  byName() {
    return this.names.sorted();
  }

  /** Counts by player platform, largest first. */
  byPlatform() {
    return this.platforms.sorted();
  }
}
