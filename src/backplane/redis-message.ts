import { randomBytes } from 'node:crypto';
import type { BroadcastEvent } from '../common/broadcast-event.js';

/*
 * The events an instance accepted in one event-loop turn, as one message on the Redis channel:
 *
 *     <version>:<origin>\n<header>\n<frame><header>\n<frame>...
 *
 * <version> one digit, the format version, FORMAT_VERSION for the messages written here; <origin> the 16-character
 * id of the instance that accepted the events, so that it can skip its own; then, for each event in the order it
 * was accepted, <header> a JSON array `["<event_name>","<session_id>", ...]` (null when absent), which the other
 * instances' stream filters read without parsing the event, and <frame> the SSE frame exactly as the accepting
 * instance serialized it. A frame is one `data:` line and a blank line (its only line feeds are its last two), so
 * entries follow each other without lengths. A message without entries is a probe: it tells its sender that the
 * channel reaches it (cluster mode).
 *
 * Version 1 carried one event per message (`1:<origin>\n<header>\n<frame>`, a version 2 message of one entry):
 * it is still read.
 *
 * The version rule (docs/scaling.md), so that a rolling upgrade loses no event: a build reads the previous
 * version, its own and the next, and a version may only add elements at the end of the header arrays, which
 * readers of the previous one ignore; origin, the first two header elements and the frames keep their meaning.
 * Whatever else changes takes a new channel (REDIS_CHANNEL), not a new version. Other versions are ignored.
 */
export const FORMAT_VERSION = 2;
/** The versions this build reads: the previous one, its own and the next. */
const READABLE_VERSIONS = new Set(
  [FORMAT_VERSION - 1, FORMAT_VERSION, FORMAT_VERSION + 1].filter((v) => v >= 1).map((v) => `${v}:`),
);
const VERSION_LENGTH = 2;
const ORIGIN_LENGTH = 16;
const PREFIX_LENGTH = VERSION_LENGTH + ORIGIN_LENGTH + 1;
const LF = 0x0a;
const CR = 0x0d;
const FRAME_START = Buffer.from('data: ');

/** A fresh id for this instance: 12 random bytes, 16 base64url characters. */
export function newInstanceId(): string {
  return randomBytes(12).toString('base64url');
}

/** Encodes this instance's events and recognizes them when Redis hands them back. */
export class RedisMessageCodec {
  private readonly prefixBytes: Buffer;

  constructor(readonly instanceId: string = newInstanceId()) {
    if (!/^[A-Za-z0-9_-]{16}$/.test(instanceId)) throw new Error('An instance id is 16 base64url characters');
    this.prefixBytes = Buffer.from(`${FORMAT_VERSION}:${instanceId}\n`, 'latin1');
  }

  /**
   * One message for the events accepted here in one turn, in their order (none: a probe). Each frame is copied
   * once, behind its short header, into one buffer.
   */
  encode(events: readonly BroadcastEvent[]): Buffer {
    const heads = events.map((e) => `${JSON.stringify([e.eventName ?? null, e.sessionId ?? null])}\n`);
    let length = this.prefixBytes.length;
    for (let i = 0; i < events.length; i++) length += Buffer.byteLength(heads[i]) + events[i].frame.length;
    const message = Buffer.allocUnsafe(length);
    let at = this.prefixBytes.copy(message, 0);
    for (let i = 0; i < events.length; i++) {
      at += message.write(heads[i], at);
      at += events[i].frame.copy(message, at);
    }
    return message;
  }

  /** Whether a message is one of this instance's own, which its subscribers already have. */
  isOwn(message: Buffer): boolean {
    return (
      message.length >= PREFIX_LENGTH && message.compare(this.prefixBytes, 0, PREFIX_LENGTH, 0, PREFIX_LENGTH) === 0
    );
  }
}

function isOptionalString(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

/** One `data:` line and its blank line, nothing that could end it early or start another SSE field. */
function isFrame(frame: Buffer): boolean {
  return (
    frame.length > FRAME_START.length + 2 &&
    frame.compare(FRAME_START, 0, FRAME_START.length, 0, FRAME_START.length) === 0 &&
    frame.indexOf(LF) === frame.length - 2 &&
    frame[frame.length - 1] === LF &&
    frame.indexOf(CR) === -1
  );
}

/**
 * The events in a message from an instance of a readable version (an empty list for a probe), or undefined for
 * anything else on the channel (another format or version, a hand-typed PUBLISH, one malformed entry): what
 * reaches subscribers is always well-formed frames, and a message is taken whole or not at all.
 * The frames are views of the message, not copies.
 */
export function decodeMessage(message: Buffer): BroadcastEvent[] | undefined {
  if (message.length < PREFIX_LENGTH || !READABLE_VERSIONS.has(message.toString('latin1', 0, VERSION_LENGTH))) {
    return undefined;
  }
  if (message[PREFIX_LENGTH - 1] !== LF) return undefined;
  const single = message[0] === 0x31; // version 1: exactly one entry
  const events: BroadcastEvent[] = [];
  let at = PREFIX_LENGTH;
  while (at < message.length) {
    const headEnd = message.indexOf(LF, at);
    if (headEnd < 0) return undefined;
    let header: unknown;
    try {
      header = JSON.parse(message.toString('utf8', at, headEnd));
    } catch {
      return undefined;
    }
    // Elements past the first two belong to a later version: ignored.
    if (!Array.isArray(header) || header.length < 2) return undefined;
    const [eventName, sessionId] = header as unknown[];
    if (!isOptionalString(eventName) || !isOptionalString(sessionId)) return undefined;
    // The frame's first line feed is the end of its data line; the blank line follows.
    const lineEnd = message.indexOf(LF, headEnd + 1);
    if (lineEnd < 0) return undefined;
    const frame = message.subarray(headEnd + 1, lineEnd + 2);
    if (!isFrame(frame)) return undefined;
    events.push({ frame, eventName: eventName ?? undefined, sessionId: sessionId ?? undefined });
    at = lineEnd + 2;
  }
  if (single && events.length !== 1) return undefined;
  return events;
}
