import { exportSPKI } from 'jose';
import { startApp, type RunningApp } from './support/app.js';
import { json, postEvent, request } from './support/http.js';
import { JwksServer, signingKey, token, type SigningKey } from './support/jwks-server.js';
import { logs } from './support/log-capture.js';
import { sample, scrape } from './support/metrics.js';
import { SseClient } from './support/sse-client.js';
import { waitUntil } from './support/wait-until.js';

const SECRET = 'an-hmac-secret-of-more-than-32-characters';
const STATIC = 'a-static-subscriber-token-0123';
const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });

/** An unsecured JWT (`alg: none`), which must never be taken. */
function unsecured(claims: object): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

describe('subscriber JWTs beside the static tokens', () => {
  let jwks: JwksServer;
  let app: RunningApp;
  let first: SigningKey;

  beforeAll(async () => {
    logs.clear();
    jwks = await JwksServer.start();
    first = await signingKey('k1');
    jwks.keys = [first];
    app = await startApp(
      {
        SUBSCRIBER_TOKENS: STATIC,
        JWT_SECRET: SECRET,
        JWT_JWKS_URL: jwks.url,
        JWT_ISSUER: 'https://sso.example',
        JWT_AUDIENCE: 'pillarbox-events',
        JWT_CLOCK_TOLERANCE_S: '5',
      },
      { timings: { jwksTimeoutMs: 500, jwksCooldownMs: 100 } },
    );
  });
  afterAll(async () => {
    await app?.close();
    await jwks?.stop();
  });

  const claims = { iss: 'https://sso.example', aud: 'pillarbox-events', sub: 'console-user' };
  const open = (jwt: string, query = '') => SseClient.open(`${app.url}/events${query}`, bearer(jwt));
  const status = async (jwt: string, path = '/events') =>
    (await request(`${app.url}${path}`, { method: 'HEAD', headers: bearer(jwt) })).status;

  it('takes an HS256 token, a token of the JWKS, and the static tokens still', async () => {
    const hmac = await open(await token({ secret: SECRET }, claims));
    const keyed = await open(await token(first, claims));
    const fixed = await open(STATIC);
    expect((await postEvent(app.url, { event_name: 'START', n: 1 })).status).toBe(204);
    for (const reader of [hmac, keyed, fixed]) {
      await reader.waitForEvents(1);
      reader.close();
    }
    // /metrics takes the same tokens.
    expect((await request(`${app.url}/metrics`, { headers: bearer(await token(first, claims)) })).status).toBe(200);
  });

  it.each<[string, () => Promise<string>]>([
    ['an expired token', () => token({ secret: SECRET }, claims, { ttlS: -60 })],
    ['a token not valid yet', () => token({ secret: SECRET }, claims, { notBeforeS: 120 })],
    ['a token of another audience', () => token({ secret: SECRET }, { ...claims, aud: 'other' })],
    ['a token of another issuer', () => token(first, { ...claims, iss: 'https://evil.example' })],
    ['a token without exp', () => token({ secret: SECRET }, claims, { ttlS: null })],
    ['alg: none', async () => unsecured({ ...claims, exp: Math.floor(Date.now() / 1000) + 300 })],
    ['a token signed with another secret', () => token({ secret: `${SECRET}-not` }, claims)],
  ])('refuses %s with a 401', async (_case, make) => {
    const res = await request(`${app.url}/events`, { headers: bearer(await make()) });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
  });

  it('refuses an HS256 token whose secret is the public key of the JWKS (algorithm confusion)', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const secret of [JSON.stringify(first.jwk), await exportSPKI(first.publicKey)]) {
      const forged = await token({ secret }, { ...claims, exp: now + 300 });
      expect(await status(forged)).toBe(401);
    }
  });

  it('takes the tokens of a new key once the JWKS has it (key rotation)', async () => {
    const second = await signingKey('k2', 'ES256');
    const early = await token(second, claims);
    expect(await status(early)).toBe(401);
    jwks.keys = [first, second];
    // The unknown key makes the service fetch the JWKS again (once the cooldown has passed).
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await status(await token(second, claims))).toBe(200);
  });

  it("applies the token's filter claim on top of the query's, which cannot widen it", async () => {
    const errorsOnly = await token(first, { ...claims, pillarbox_filter: { event_name: ['ERROR'] } });
    const all = await open(errorsOnly);
    const narrowed = await open(errorsOnly, '?event_name=ERROR,START');
    const wider = await request(`${app.url}/events?event_name=START`, { headers: bearer(errorsOnly) });
    expect([wider.status, json(wider).message]).toEqual([
      403,
      'The token does not allow the event_name values the query asks for',
    ]);
    for (const event_name of ['START', 'ERROR', 'STOP']) {
      expect((await postEvent(app.url, { event_name, filtered: true })).status).toBe(204);
    }
    // A last event the claim lets through: anything wrongly sent would arrive before it.
    expect((await postEvent(app.url, { event_name: 'ERROR', last: true })).status).toBe(204);
    for (const reader of [all, narrowed]) {
      await reader.waitForEvents(2);
      expect(reader.json().map((e) => e.event_name)).toEqual(['ERROR', 'ERROR']);
      reader.close();
    }
    const malformed = await token(first, { ...claims, pillarbox_filter: { event_name: 'ERROR' } });
    expect(await status(malformed)).toBe(401);
  });

  it('ends a stream when its token expires, with a last comment, counted', async () => {
    const reader = await open(await token({ secret: SECRET }, claims, { ttlS: 2 }));
    await reader.waitForEnd(5000);
    expect(reader.raw.endsWith(': the token expired: reconnect with a fresh one\n\n')).toBe(true);
    expect(
      sample(await scrape(app.url, bearer(STATIC)), 'pillarbox_subscribers_disconnected_total{reason="expired"}'),
    ).toBe(1);
  });

  it.each<[string, 'hang' | 'error' | 'garbage']>([
    ['does not answer', 'hang'],
    ['answers 500', 'error'],
    ['answers garbage', 'garbage'],
  ])(
    'while the JWKS %s: a new token gets 503, one verified before still works, nothing else waits',
    async (_case, mode) => {
      const seen = await token(first, claims);
      expect(await status(seen)).toBe(200);
      // Keys of another kid make the service fetch the JWKS for the new token.
      const other = await signingKey(`k-${mode}`);
      const fresh = await token(other, claims);
      jwks.mode = mode;
      try {
        await new Promise((resolve) => setTimeout(resolve, 150));
        const pending = request(`${app.url}/events`, { headers: bearer(fresh) });
        // Meanwhile the service answers as usual.
        const started = Date.now();
        expect((await postEvent(app.url, { during: mode })).status).toBe(204);
        expect(await status(seen)).toBe(200);
        expect(Date.now() - started).toBeLessThan(400);
        const refused = await pending;
        expect([refused.status, json(refused).message]).toEqual([
          503,
          'The keys that verify subscriber tokens (JWT_JWKS_URL) cannot be had at the moment: try again shortly',
        ]);
      } finally {
        jwks.mode = 'keys';
      }
    },
  );

  it('never logs the secret or a token', async () => {
    const jwt = await token({ secret: SECRET }, claims);
    await request(`${app.url}/events?access_token=${jwt}`, { method: 'HEAD' });
    // A refusal logged after it: its line is the marker that the HEAD's lines, if any, are written.
    await request(`${app.url}/events?access_token=${jwt}x`);
    await waitUntil(() => logs.text().includes('/events?[REDACTED]'), 5000, 'the refusal logged');
    expect(logs.text()).not.toContain(SECRET);
    expect(logs.text()).not.toContain(jwt);
    expect(logs.text()).not.toContain(STATIC);
  });
});
