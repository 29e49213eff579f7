import { randomBytes } from 'node:crypto';
import type { BroadcastEvent } from '../common/broadcast-event.js';

/*
 * One event on the Redis channel, as bytes:
 *
 *     1:<origin>\n<header>\n<frame>
 *
 * `1:` the format version; <origin> the 16-character id of the instance that accepted the event, so that it can
 * skip its own; <header> `["<event_name>","<session_id>"]` (null when absent), which the other instances' stream
 * filters read without parsing the event; <frame> the SSE frame exactly as the accepting instance serialized it.
 */
const VERSION = '1:';
const ORIGIN_LENGTH = 16;
const PREFIX_LENGTH = VERSION.length + ORIGIN_LENGTH + 1;
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
    this.prefix = `${VERSION}${instanceId}\n`;
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
 * The event in a message from an instance, or undefined for anything else on the channel (another format or
 * version, a hand-typed PUBLISH): what reaches subscribers is always a well-formed frame.
 * The frame is a view of the message, not a copy.
 */
export function decodeMessage(message: Buffer): BroadcastEvent | undefined {
  if (message.length < PREFIX_LENGTH || message.toString('latin1', 0, VERSION.length) !== VERSION) return undefined;
  if (message[PREFIX_LENGTH - 1] !== LF) return undefined;
  const headEnd = message.indexOf(LF, PREFIX_LENGTH);
  if (headEnd < 0) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(message.toString('utf8', PREFIX_LENGTH, headEnd));
  } catch {
    return undefined;
  }
  if (!Array.isArray(header) || header.length !== 2) return undefined;
  const [eventName, sessionId] = header as unknown[];
  if (!isOptionalString(eventName) || !isOptionalString(sessionId)) return undefined;
  const frame = message.subarray(headEnd + 1);
  if (!isFrame(frame)) return undefined;
  return { frame, eventName: eventName ?? undefined, sessionId: sessionId ?? undefined };
}
