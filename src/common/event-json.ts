/*
 * The checks every event passes, wherever it comes from: a POST (events/ingest.ts) or another instance through the
 * backplane (backplane/redis-backplane.ts).
 */

/** Deeper JSON is refused: consumers' recursive parsers should not be the ones to find the limit. */
export const MAX_JSON_DEPTH = 64;

/** Whether `text` holds more than `max` of `char`, counted with indexOf (native and fast). */
function countExceeds(text: string, char: string, max: number): boolean {
  let count = 0;
  for (let i = text.indexOf(char); i >= 0; i = text.indexOf(char, i + 1)) if (++count > max) return true;
  return false;
}

/** Whether brackets outside strings nest deeper than `max`. Runs before JSON.parse so a deep body costs one scan. */
export function exceedsDepth(text: string, max = MAX_JSON_DEPTH): boolean {
  // Nesting deeper than `max` needs more than `max` opening brackets: most events have a handful, found natively.
  if (!countExceeds(text, '{', max / 2) && !countExceeds(text, '[', max / 2)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/** A member of an event that streams are filtered on (`event_name`, `session_id`), when it is a string. */
export function stringField(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * The event object of a frame's JSON text, checked as a POST's body is (an object, not nested deeper than
 * MAX_JSON_DEPTH), or undefined.
 */
export function parseEventObject(text: string): Record<string, unknown> | undefined {
  if (exceedsDepth(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
