import { randomBytes } from 'node:crypto';
import type { BroadcastEvent } from '../common/broadcast-event.js';

/*
 * One event on the Redis channel, as bytes:
 *
 *     <version>:<origin>\n<header>\n<frame>
 *
 * <version> one digit, the format version, FORMAT_VERSION for the messages written here; <origin> the 16-character
 * id of the instance that accepted the event, so that it can skip its own; <header> a JSON array
 * `["<event_name>","<session_id>", ...]` (null when absent), which the other instances' stream filters read
 * without parsing the event; <frame> the SSE frame exactly as the accepting instance serialized it.
 *
 * The version rule (docs/scaling.md), so that a rolling upgrade loses no event: a build reads the previous
 * version, its own and the next, and a version may only add elements at the end of the header array, which
 * readers of the previous one ignore; origin, the first two header elements and the frame keep their meaning.
 * Whatever else changes takes a new channel (REDIS_CHANNEL), not a new version. Other versions are ignored.
 */
export const FORMAT_VERSION = 1;
/** The versions this build reads: the previous one (when there is one), its own and the next. */
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
  private readonly prefix: string;
  private readonly prefixBytes: Buffer;

  constructor(readonly instanceId: string = newInstanceId()) {
    if (!/^[A-Za-z0-9_-]{16}$/.test(instanceId)) throw new Error('An instance id is 16 base64url characters');
    this.prefix = `${FORMAT_VERSION}:${instanceId}\n`;
    this.prefixBytes = Buffer.from(this.prefix, 'latin1');
  }

  /** The message for an event accepted here: one buffer, the frame copied once behind a short header. */
  encode(event: BroadcastEvent): Buffer {
    const head = `${this.prefix}${JSON.stringify([event.eventName ?? null, event.sessionId ?? null])}\n`;
    const headLength = Buffer.byteLength(head);
    const message = Buffer.allocUnsafe(headLength + event.frame.length);
    message.write(head, 0, headLength, 'utf8');
    event.frame.copy(message, headLength);
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
 * The event in a message from an instance of this version or the next, or undefined for anything else on the
 * channel (another format or version, a hand-typed PUBLISH): what reaches subscribers is always a well-formed frame.
 * The frame is a view of the message, not a copy.
 */
export function decodeMessage(message: Buffer): BroadcastEvent | undefined {
  if (message.length < PREFIX_LENGTH || !READABLE_VERSIONS.has(message.toString('latin1', 0, VERSION_LENGTH))) {
    return undefined;
  }
  if (message[PREFIX_LENGTH - 1] !== LF) return undefined;
  const headEnd = message.indexOf(LF, PREFIX_LENGTH);
  if (headEnd < 0) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(message.toString('utf8', PREFIX_LENGTH, headEnd));
  } catch {
    return undefined;
  }
  // Elements past the first two belong to a later version: ignored.
  if (!Array.isArray(header) || header.length < 2) return undefined;
  const [eventName, sessionId] = header as unknown[];
  if (!isOptionalString(eventName) || !isOptionalString(sessionId)) return undefined;
  const frame = message.subarray(headEnd + 1);
  if (!isFrame(frame)) return undefined;
  return { frame, eventName: eventName ?? undefined, sessionId: sessionId ?? undefined };
}
