/// <reference lib="dom" />
import { randomUUID } from 'node:crypto';
import { token } from './support/jwks-server.js';
import type { Page } from 'playwright-core';
import { SseHub } from '../src/events/sse-hub.service.js';
import { chromiumAvailable, openBrowser, screenshot, type Browser } from './support/browser.js';
import { json, postEvent, request } from './support/http.js';
import { startApp, type RunningApp } from './support/app.js';
import { waitUntil } from './support/wait-until.js';

describe('console: pages and assets', () => {
  let running: RunningApp;

  beforeAll(async () => {
    running = await startApp();
  });
  afterAll(() => running.close());

  it.each(['/', '/console'])('serves the page at %s with a self-only Content-Security-Policy', async (path) => {
    const res = await request(running.url + path);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).not.toMatch(/unsafe|https?:/);
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.body).toContain('<script type="module" src="console/console.js">');
    // Everything is local: no other origin is named anywhere in the page.
    expect(res.body).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it.each([
    ['console.js', 'text/javascript; charset=utf-8'],
    ['console-model.js', 'text/javascript; charset=utf-8'],
    ['console-stream.js', 'text/javascript; charset=utf-8'],
    ['chart.js', 'text/javascript; charset=utf-8'],
    ['console.css', 'text/css; charset=utf-8'],
    ['icon.svg', 'image/svg+xml'],
  ])('serves /console/%s as %s', async (file, type) => {
    const res = await request(`${running.url}/console/${file}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body.length).toBeGreaterThan(100);
  });

  it.each([
    'nope.js',
    'index.html',
    'console-model.d.ts',
    'chart.d.ts',
    '..%2Fconsole.controller.ts',
    '%2e%2e%2fapp.module.ts',
  ])('answers 404 with a JSON error for /console/%s', async (file) => {
    const res = await request(`${running.url}/console/${file}`);
    expect(res.status).toBe(404);
    expect(json(res)).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });

  it('redirects /console/ to /console, where the relative links of the page resolve', async () => {
    const res = await request(`${running.url}/console/`);
    expect(res.status).toBe(301);
    expect(new URL(res.headers.location ?? '', `${running.url}/console/`).href).toBe(`${running.url}/console`);
  });

  it('keeps the query string when it redirects /console/: the access token goes on to the page', async () => {
    const res = await request(`${running.url}/console/?access_token=a%2Fb%20c&x=1`);
    expect(res.status).toBe(301);
    const location = new URL(res.headers.location ?? '', `${running.url}/console/`);
    expect(location.pathname).toBe('/console');
    expect(location.searchParams.get('access_token')).toBe('a/b c');
    expect(location.searchParams.get('x')).toBe('1');
  });
});

const runBrowser = chromiumAvailable('console in Chromium');
const describeBrowser = runBrowser ? describe : describe.skip;

/** The visible rows of the events table, as cell texts. */
function tableRows(page: Page): Promise<string[][]> {
  return page.$$eval('#event-rows tr:not([hidden])', (rows) =>
    rows.map((row) => [...(row as HTMLTableRowElement).cells].map((cell) => cell.textContent ?? '')),
  );
}

/** Polls the table until `predicate` holds for its visible rows (page functions cannot be built from text: CSP). */
async function waitForRows(page: Page, predicate: (rows: string[][]) => boolean, what: string): Promise<string[][]> {
  return waitUntil(
    async () => {
      const rows = await tableRows(page);
      return predicate(rows) && rows;
    },
    5000,
    what,
  );
}

function start(session: string, platform: string, version: string, media: string) {
  return {
    event_name: 'START',
    session_id: session,
    timestamp: Date.now(),
    version: 1,
    data: { player: { name: 'Pillarbox', platform, version }, media: { id: media } },
  };
}

function event(name: string, session: string, data: object = {}) {
  return { event_name: name, session_id: session, timestamp: Date.now(), version: 1, data };
}

async function post(url: string, body: string | object): Promise<void> {
  expect((await postEvent(url, body)).status).toBe(204);
}

describeBrowser('console in Chromium', () => {
  let running: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    running = await startApp();
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  it('shows live events, filters them, draws the chart and counts, with no console error', async () => {
    const { page, errors } = browser;
    await page.goto(`${running.url}/`);
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });

    const web = `web-${randomUUID()}`;
    const apple = `apple-${randomUUID()}`;
    const android = `android-${randomUUID()}`;
    await post(running.url, start(web, 'Web', '1.19.0', 'urn:rts:video:111'));
    await post(running.url, start(apple, 'Apple', '8.2.1', 'urn:srf:video:222'));
    await post(running.url, start(android, 'Android', '3.1.2', 'urn:rsi:video:333'));
    for (let i = 0; i < 5; i++) {
      for (const session of [web, apple, android])
        await post(running.url, event('HEARTBEAT', session, { position: i }));
    }
    await post(
      running.url,
      event('ERROR', android, { name: 'ERROR_CODE_IO_BAD_HTTP_STATUS', message: 'Response 403' }),
    );

    // The table: newest first, with the columns taken from the START of each session.
    await waitForRows(
      page,
      (rows) => rows.some((r) => r[1] === 'ERROR' && r[2] === android),
      'rows.some((r) => r[1] === "ERROR" && r[2] === android)',
    );
    const rows = await tableRows(page);
    expect(rows).toHaveLength(19);
    expect(rows[0]).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d$/),
      'ERROR',
      android,
      'Android',
      '3.1.2',
      'urn:rsi:video:333',
      '127.0.0.1',
    ]);
    expect(rows.find((r) => r[1] === 'START' && r[2] === apple)).toEqual([
      expect.any(String),
      'START',
      apple,
      'Apple',
      '8.2.1',
      'urn:srf:video:222',
      '127.0.0.1',
    ]);

    // Counters and active sessions (the Android one ended with its ERROR).
    const counts = await page.$$eval('#by-name tr', (trs) =>
      (trs as HTMLTableRowElement[]).map((tr) => [tr.cells[0].firstChild?.textContent, tr.cells[1].textContent]),
    );
    expect(counts).toEqual([
      ['HEARTBEAT', '15'],
      ['START', '3'],
      ['ERROR', '1'],
    ]);
    const platforms = await page.$$eval('#by-platform tr', (trs) =>
      (trs as HTMLTableRowElement[]).map((tr) => [tr.cells[0].firstChild?.textContent, tr.cells[1].textContent]),
    );
    expect(platforms).toEqual(
      expect.arrayContaining([
        ['Web', '6'],
        ['Apple', '6'],
        ['Android', '7'],
      ]),
    );
    await page.waitForFunction(() => document.getElementById('active')?.textContent === '2');

    // The latest errors, with message and media.
    const firstError = await page.textContent('#errors li');
    expect(firstError).toContain('ERROR_CODE_IO_BAD_HTTP_STATUS');
    expect(firstError).toContain('Response 403');
    expect(firstError).toContain('urn:rsi:video:333');

    // The event-name filter.
    await page.waitForSelector('#name-filter option[value="ERROR"]', { state: 'attached' });
    await page.selectOption('#name-filter', 'ERROR');
    await waitForRows(page, (rows) => rows.length === 1, 'rows.length === 1');
    expect((await tableRows(page))[0].slice(1, 3)).toEqual(['ERROR', android]);
    await page.selectOption('#name-filter', 'START');
    await waitForRows(
      page,
      (rows) => rows.length === 3 && rows.every((r) => r[1] === 'START'),
      'rows.length === 3 && rows.every((r) => r[1] === "START")',
    );
    await page.selectOption('#name-filter', '');

    // The text filter: a session id, then a media id (which finds later events of that session too).
    await page.fill('#text-filter', apple);
    await waitForRows(
      page,
      (rows) => rows.length === 6 && rows.every((r) => r[2] === apple),
      'rows.length === 6 && rows.every((r) => r[2] === apple)',
    );
    await page.fill('#text-filter', 'video:111');
    await waitForRows(
      page,
      (rows) => rows.length === 6 && rows.every((r) => r[2] === web),
      'rows.length === 6 && rows.every((r) => r[2] === web)',
    );
    await page.fill('#text-filter', 'no-such-thing');
    await waitForRows(page, (rows) => rows.length === 0, 'rows.length === 0');
    expect(await page.isVisible('#events-empty')).toBe(true);
    await page.fill('#text-filter', '');
    await waitForRows(page, (rows) => rows.length === 19, 'rows.length === 19');

    // A click shows the whole JSON of the event.
    await page.click('#event-rows tr:first-child');
    await page.waitForSelector('#details[open]');
    const details = JSON.parse((await page.textContent('#details-json')) ?? '') as Record<string, unknown>;
    expect(details).toMatchObject({
      event_name: 'ERROR',
      session_id: android,
      user_ip: '127.0.0.1',
      data: { message: 'Response 403' },
    });
    await page.click('#details-close');

    // Pause: new events are counted but the table stays as it was until resumed.
    await page.click('#pause');
    await post(running.url, event('STOP', web));
    await page.waitForFunction(() => document.getElementById('events-status')?.textContent?.includes('1 new event'));
    expect((await tableRows(page))[0][1]).toBe('ERROR');
    await page.click('#pause');
    await waitForRows(
      page,
      (rows) => rows[0][1] === 'STOP' && rows[0][2] === web,
      'rows[0][1] === "STOP" && rows[0][2] === web',
    );

    // The chart shows whole seconds only: once the second of some heartbeats has passed, their bars are drawn.
    // Waiting for any bar is not enough: the STARTs may fall in one second and the heartbeats in the next.
    await page.waitForFunction(() => document.getElementById('legend')?.textContent?.includes('HEARTBEAT'), undefined, {
      timeout: 3000,
    });
    expect(Number(await page.$eval('#chart', (canvas) => (canvas as HTMLCanvasElement).dataset.max))).toBeGreaterThan(
      0,
    );
    const colored = await page.$eval('#chart', (canvas) => {
      const c = canvas as HTMLCanvasElement;
      const pixels = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let heartbeat = 0;
      for (let i = 0; i < pixels.length; i += 4) {
        // HEARTBEAT's blue, #3b7ddd
        if (pixels[i] === 0x3b && pixels[i + 1] === 0x7d && pixels[i + 2] === 0xdd) heartbeat++;
      }
      return heartbeat;
    });
    expect(colored).toBeGreaterThan(20);

    await screenshot(page, 'console.png');
    expect(errors).toEqual([]);
  });

  it('shows that it reconnects when the stream ends, and receives again', async () => {
    const { page, errors } = browser;
    await page.goto(`${running.url}/console`);
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    running.app.get(SseHub).endAll();
    await page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 5000 });
    await page.waitForSelector('#state[data-state="live"]', { timeout: 10_000 });
    const session = `after-${randomUUID()}`;
    await post(running.url, event('HEARTBEAT', session));
    await waitForRows(page, (rows) => rows.some((r) => r[2] === session), 'rows.some((r) => r[2] === session)');
    expect(errors).toEqual([]);
  });

  // Event contents are untrusted: objects with their own `toString`, names that are members of Object.prototype.
  it('shows and counts events whose fields are objects with toString or whose names are Object members', async () => {
    const { page, errors } = browser;
    await page.goto(`${running.url}/console`);
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    const id = randomUUID().slice(0, 8);
    const hostile = { toString: null };
    const bodies = [
      JSON.stringify(start(`h1-${id}`, 'Web', '1.0.0', 'urn:h')).replace('"Web"', '{"toString":null}'),
      JSON.stringify(event('HEARTBEAT', `h2-${id}`, { toString: null, hasOwnProperty: null })),
      JSON.stringify(event('ERROR', `h3-${id}`, { message: hostile, name: 'E_HOSTILE' })),
      JSON.stringify({ ...event('HEARTBEAT', ''), session_id: { toString: null, id } }),
      `{"event_name":"__proto__","session_id":"h5-${id}","__proto__":{"x":1},"data":{"__proto__":null}}`,
      ...['toString', 'constructor', 'hasOwnProperty'].map((name) => JSON.stringify(event(name, `h6-${id}`))),
    ];
    for (const body of bodies) await post(running.url, body);

    const rows = await waitForRows(page, (rows) => rows.length === bodies.length, `${bodies.length} rows`);
    expect(rows.map((r) => [r[1], r[2], r[3]])).toEqual([
      ['hasOwnProperty', `h6-${id}`, ''],
      ['constructor', `h6-${id}`, ''],
      ['toString', `h6-${id}`, ''],
      ['__proto__', `h5-${id}`, ''],
      ['HEARTBEAT', `{"toString":null,"id":"${id}"}`, ''],
      ['ERROR', `h3-${id}`, ''],
      ['HEARTBEAT', `h2-${id}`, ''],
      ['START', `h1-${id}`, '{"toString":null}'],
    ]);
    // Every name tag has a colour, Object members too.
    const tagColors = await page.$$eval('#event-rows tr:not([hidden]) .tag', (tags) =>
      tags.map((tag) => (tag as HTMLElement).style.backgroundColor),
    );
    expect(tagColors).toHaveLength(bodies.length);
    for (const color of tagColors) expect(color).toMatch(/^rgb\(/);

    const counts = await page.$$eval('#by-name tr', (trs) =>
      (trs as HTMLTableRowElement[]).map(
        (tr) => [tr.cells[0].firstChild?.textContent ?? '', tr.cells[1].textContent ?? ''] as const,
      ),
    );
    expect(new Map(counts)).toEqual(
      new Map([
        ['HEARTBEAT', '2'],
        ['START', '1'],
        ['ERROR', '1'],
        ['__proto__', '1'],
        ['toString', '1'],
        ['constructor', '1'],
        ['hasOwnProperty', '1'],
      ]),
    );
    expect(await page.textContent('#total')).toBe(String(bodies.length));
    expect(await page.textContent('#errors li')).toContain('{"toString":null}');
    await page.waitForSelector('#name-filter option[value="__proto__"]', { state: 'attached' });
    await screenshot(page, 'console-hostile.png');
    expect(errors).toEqual([]);
  });
});

/** A stream protected by SUBSCRIBER_TOKENS and JWTs: the console takes either from its URL or its input. */
const TOKEN = 'console-e2e-token';
const JWT_SECRET = 'the-console-test-hmac-secret-of-32-chars';

describeBrowser('console with a protected stream', () => {
  let running: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    running = await startApp({ SUBSCRIBER_TOKENS: TOKEN, JWT_SECRET });
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  it('passes the access token from its own URL to the stream', async () => {
    const { page, errors } = browser;
    await page.goto(`${running.url}/?access_token=${TOKEN}`);
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    const session = `token-${randomUUID()}`;
    await post(running.url, event('START', session));
    await waitForRows(page, (rows) => rows.some((r) => r[2] === session), 'rows.some((r) => r[2] === session)');
    expect(errors).toEqual([]);
  });

  it('keeps the access token when opened at /console/, which redirects to /console', async () => {
    const { page, errors } = browser;
    await page.goto(`${running.url}/console/?access_token=${TOKEN}`);
    expect(new URL(page.url()).pathname).toBe('/console');
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    expect(errors).toEqual([]);
  });

  it('says that a token is needed, and connects with the one typed in', async () => {
    const { page } = browser;
    await page.goto(`${running.url}/console`);
    await page.waitForSelector('#state[data-state="error"]', { timeout: 5000 });
    expect(await page.textContent('#state')).toContain('Access token required');
    await page.fill('#token', TOKEN);
    await page.click('#token-form button');
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    const session = `typed-${randomUUID()}`;
    await post(running.url, event('START', session));
    await waitForRows(page, (rows) => rows.some((r) => r[2] === session), 'rows.some((r) => r[2] === session)');
    await screenshot(page, 'console-token.png');
  });

  it('takes a JWT as it takes a static token, typed in, and shows the stream it allows', async () => {
    const { page } = browser;
    await page.goto(`${running.url}/console`);
    await page.waitForSelector('#state[data-state="error"]', { timeout: 5000 });
    const jwt = await token(
      { secret: JWT_SECRET },
      { sub: 'console-user', pillarbox_filter: { event_name: ['ERROR'] } },
    );
    await page.fill('#token', jwt);
    await page.click('#token-form button');
    await page.waitForSelector('#state[data-state="live"]', { timeout: 5000 });
    const session = `jwt-${randomUUID()}`;
    await post(running.url, event('START', session));
    await post(running.url, event('ERROR', session));
    // Only the ERROR, which came after the START: the token's claim allows nothing else.
    const rows = await waitForRows(page, (all) => all.some((r) => r[2] === session), 'the session of the JWT');
    expect(rows.filter((r) => r[2] === session).map((r) => r.join(' '))).toEqual([expect.stringContaining('ERROR')]);
  });
});
