import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Reads a whole answer into an HttpResult. */
function collect(res: http.IncomingMessage, resolve: (result: HttpResult) => void, reject: (err: Error) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () =>
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
  );
  res.on('error', reject);
}

/** One HTTP request, on a fresh connection unless `agent` is given; resolves with the whole answer. */
export function request(
  url: string,
  options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    // An explicit length: node:http sends a DELETE body neither chunked nor with a length otherwise.
    const headers =
      options.body === undefined
        ? options.headers
        : { 'content-length': Buffer.byteLength(options.body), ...options.headers };
    const req = http.request(url, { method: options.method ?? 'GET', headers, agent: options.agent ?? false }, (res) =>
      collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POSTs an event (a JSON text or an object) to /api/events. */
export function postEvent(
  baseUrl: string,
  event: string | Buffer | object,
  headers: OutgoingHttpHeaders = { 'content-type': 'application/json' },
): Promise<HttpResult> {
  const body = typeof event === 'string' || Buffer.isBuffer(event) ? event : JSON.stringify(event);
  return request(`${baseUrl}/api/events`, { method: 'POST', headers, body });
}

export function json(result: HttpResult): Record<string, unknown> {
  return JSON.parse(result.body) as Record<string, unknown>;
}

/** POSTs an event on `agent`'s connections (a keep-alive agent reuses them, as a proxy's pool does). */
export function postOn(agent: http.Agent, baseUrl: string, event: object): Promise<HttpResult> {
  const headers = { 'content-type': 'application/json' };
  return request(`${baseUrl}/api/events`, { method: 'POST', headers, body: JSON.stringify(event), agent });
}

/**
 * A POST whose body is sent in two halves: the request is in flight from the first until `finish()` sends the
 * second, which resolves with the answer.
 */
export function startPost(baseUrl: string, event: object): { finish: () => Promise<HttpResult> } {
  const body = Buffer.from(JSON.stringify(event));
  const half = Math.floor(body.length / 2);
  const req = http.request(`${baseUrl}/api/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': body.length },
    agent: false,
  });
  const answer = new Promise<HttpResult>((resolve, reject) => {
    req.on('response', (res) => collect(res, resolve, reject));
    req.on('error', reject);
  });
  req.flushHeaders();
  req.write(body.subarray(0, half));
  return {
    finish: () => {
      req.end(body.subarray(half));
      return answer;
    },
  };
}
