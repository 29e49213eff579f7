import { BadRequestException } from '@nestjs/common';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import { exceedsDepth, MAX_JSON_DEPTH, stringField } from '../common/event-json.js';
import { rejection } from '../common/rejection.js';

function hasKeys(value: object): boolean {
  for (const _ in value) return true;
  return false;
}

/** An extra check of the parsed event (the strict schema); throws to refuse it. */
export type EventCheck = (event: Record<string, unknown>) => void;

/**
 * Where the values of the object's own `user_ip` members are in `json` (a valid JSON object's text): [start, end)
 * of each, whitespace around it included. A key may be written with escapes (`"user\u005fip"`) or more than once.
 */
function userIpValues(json: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let depth = 0;
  let atKey = true;
  let isUserIp = false;
  let valueStart = -1;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 34) {
      const start = i;
      for (i++; json.charCodeAt(i) !== 34; i++) if (json.charCodeAt(i) === 92) i++;
      if (depth === 1 && atKey) {
        const key = json.slice(start, i + 1);
        isUserIp = key === '"user_ip"' || (key.includes('\\') && JSON.parse(key) === 'user_ip');
        atKey = false;
      }
    } else if (c === 123 || c === 91) depth++;
    else if (c === 125 || c === 93) {
      if (depth === 1 && valueStart >= 0) spans.push([valueStart, i]);
      depth--;
    } else if (depth === 1 && c === 58) {
      if (isUserIp) valueStart = i + 1;
    } else if (depth === 1 && c === 44) {
      if (valueStart >= 0) spans.push([valueStart, i]);
      valueStart = -1;
      isUserIp = false;
      atKey = true;
    }
  }
  return spans;
}

/** `json` with every one of `spans` replaced by `value`. */
function replaceSpans(json: string, spans: Array<[number, number]>, value: string): string {
  let out = '';
  let from = 0;
  for (const [start, end] of spans) {
    out += json.slice(from, start) + value;
    from = end;
  }
  return out + json.slice(from);
}

const LINE_BREAKS = /[\r\n]/g;

/**
 * Turns a raw request body into the one SSE frame every subscriber receives: `data: <json>\n\n`,
 * the event with `user_ip` set. The body's own text is kept as sent (key order, number spelling,
 * escapes): `user_ip` is appended, or written in place of the body's own. Raw CR and LF, which in valid JSON can
 * only be whitespace between tokens and would split the frame, become spaces; nothing is re-serialized.
 * @throws BadRequestException for an empty body, invalid JSON, a non-object or too deep a nesting, or from `check`.
 */
export function buildFrame(body: Buffer, userIp: string, check?: EventCheck): BroadcastEvent {
  const text = body.toString('utf8');
  if (/^\s*$/.test(text)) {
    throw rejection('invalid_json', new BadRequestException('The request body is empty: send one JSON object'));
  }
  if (exceedsDepth(text)) {
    throw rejection('too_deep', new BadRequestException(`The JSON is nested deeper than ${MAX_JSON_DEPTH} levels`));
  }
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    // The parser's message quotes the input: it is not echoed back.
    throw rejection('invalid_json', new BadRequestException('The request body is not valid JSON'));
  }
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw rejection('not_object', new BadRequestException('The request body must be a JSON object'));
  }
  check?.(event as Record<string, unknown>);
  const ip = JSON.stringify(userIp);
  // The object without the whitespace around it.
  let json = text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1);
  if (Object.hasOwn(event, 'user_ip')) json = replaceSpans(json, userIpValues(json), ip);
  else json = hasKeys(event) ? `${json.slice(0, -1)},"user_ip":${ip}}` : `{"user_ip":${ip}}`;
  if (json.includes('\n') || json.includes('\r')) json = json.replace(LINE_BREAKS, ' ');
  const fields = event as Record<string, unknown>;
  return {
    frame: Buffer.from(`data: ${json}\n\n`),
    eventName: stringField(fields.event_name),
    sessionId: stringField(fields.session_id),
  };
}
