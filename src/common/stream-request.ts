import type { IncomingMessage } from 'node:http';

/**
 * Whether `req` asks for the stream, GET /events, as Express routes it: the path in any case, with or without a
 * trailing slash, with any query. Such a request's response never ends by itself.
 */
export function isStreamRequest(req: IncomingMessage): boolean {
  if (req.method !== 'GET' || !req.url) return false;
  const end = req.url.indexOf('?');
  const path = (end < 0 ? req.url : req.url.slice(0, end)).toLowerCase();
  return path === '/events' || path === '/events/';
}
