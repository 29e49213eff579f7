/** Every response may be read by any origin: players and consoles run on many sites. */
export const CORS_HEADERS = { 'Access-Control-Allow-Origin': '*' } as const;

/** Lets any origin read this answer, whichever code writes it (handlers, guards, exception filters). */
export function allowAnyOrigin(res: { setHeader(name: string, value: string): unknown }): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
}

/** Answer to a CORS preflight. */
export function preflightHeaders(methods: string): Record<string, string> {
  return {
    ...CORS_HEADERS,
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': 'Content-Type, Content-Encoding, Authorization, Last-Event-ID, Cache-Control',
    'Access-Control-Max-Age': '86400',
  };
}
