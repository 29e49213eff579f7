#!/usr/bin/env node
// Simulated Pillarbox players for demos, the console and load tests: each player plays media in sessions
// (START, HEARTBEAT every few seconds, sometimes an ERROR, then STOP) and posts every event to the dispatcher,
// shaped like the players' monitoring events (web, Apple and Android flavours). Bounded by --duration.
//
//   npm run simulate -- --url http://127.0.0.1:8080 --players 500 --duration 60
//   npm run simulate -- --url https://localhost:8443 --ca deploy/compose-secrets/tls.crt   (the compose setup)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { parseCommandLine } from './lib/command-line.mjs';
import { between, envelope, ERRORS, FLAVOURS, newPlayback, pick, startData, statusData } from './lib/player-events.mjs';

const HELP = `Usage: npm run simulate -- [options]

  --url URL             the dispatcher, http:// or https:// (default http://127.0.0.1:8080); loopback unless
                        --allow-remote
  --ca FILE             for an https:// URL: the PEM certificate(s) to trust beside the system's (a self-signed
                        certificate, such as the compose setup's deploy/compose-secrets/tls.crt)
  --players N           simulated players playing at once (default 50, at most 20000)
  --duration S          seconds to run, then every player stops (default 60, at most 86400)
  --heartbeat S         seconds between heartbeats of a session (default 5)
  --error-rate P        chance that a session ends with an ERROR instead of a STOP (default 0.05)
  --session S           mean session length in seconds (default 40)
  --allow-remote        allow a URL that is not on this machine (a test host of yours)
  --quiet               no progress line
  -h, --help            this help
`;

const args = parseCommandLine('simulate', HELP, {
  url: { type: 'string', default: 'http://127.0.0.1:8080' },
  ca: { type: 'string' },
  players: { type: 'string', default: '50' },
  duration: { type: 'string', default: '60' },
  heartbeat: { type: 'string', default: '5' },
  'error-rate': { type: 'string', default: '0.05' },
  session: { type: 'string', default: '40' },
  'allow-remote': { type: 'boolean', default: false },
  quiet: { type: 'boolean', default: false },
});

function fail(message) {
  process.stderr.write(`simulate: ${message}\n\n${HELP}`);
  process.exit(2);
}

function number(name, min, max) {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < min || value > max) fail(`--${name} must be a number from ${min} to ${max}`);
  return value;
}

const players = Math.floor(number('players', 1, 20_000));
const durationMs = number('duration', 1, 86_400) * 1000;
const heartbeatMs = number('heartbeat', 0.1, 600) * 1000;
const errorRate = number('error-rate', 0, 1);
const sessionMs = number('session', 0.1, 86_400) * 1000;

let target;
try {
  target = new URL('/api/events', args.url);
} catch {
  fail(`--url ${args.url} is not a URL`);
}
if (target.protocol !== 'http:' && target.protocol !== 'https:') fail('--url must be an http:// or https:// URL');
if (args.ca && target.protocol !== 'https:') fail('--ca is for an https:// URL');
let ca;
try {
  ca = args.ca ? readFileSync(args.ca) : undefined;
} catch (err) {
  fail(`--ca ${args.ca}: ${err.code ?? err.message}`);
}
const host = target.hostname.replace(/^\[|\]$/g, '');
const loopback = host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
if (!loopback && !args['allow-remote']) {
  fail(`--url ${args.url} is not on this machine (127.0.0.0/8, localhost, [::1]); add --allow-remote if you mean it`);
}

// ---- What players send --------------------------------------------------------------------------
// The events' shapes are in lib/player-events.mjs, shared with the soak benchmark; the devices stay here: the
// simulator's vary more than the benchmark's.

/** A player of one flavour: what stays the same from one of its sessions to the next. */
function newDevice(flavour) {
  const id = randomUUID();
  switch (flavour) {
    case 'apple': {
      const phone = Math.random() < 0.7;
      return {
        flavour,
        contentType: 'application/json',
        player: { name: 'Pillarbox', version: pick(['8.1.0', '8.2.0', '8.2.1']), platform: 'Apple' },
        device: {
          id,
          model: phone ? pick(['iPhone15,2', 'iPhone16,1', 'iPhone14,7']) : 'iPad13,18',
          type: phone ? 'Phone' : 'Tablet',
        },
        os: { name: phone ? 'iOS' : 'iPadOS', version: pick(['17.5', '18.1', '18.3']) },
        screen: phone ? { width: 393, height: 852 } : { width: 820, height: 1180 },
      };
    }
    case 'android':
      return {
        flavour,
        contentType: 'application/json',
        player: { name: 'Pillarbox', version: pick(['3.0.0', '3.1.0', '3.1.2']), platform: 'Android' },
        device: {
          id,
          model: pick(['Pixel 8', 'SM-S921B', 'SM-A546B', 'Chromecast']),
          type: pick(['Phone', 'Phone', 'TV']),
        },
        os: { name: 'Android', version: pick(['13', '14', '15']) },
        screen: { width: 1080, height: 2400 },
      };
    default:
      return {
        flavour: 'web',
        // Web players post with navigator.sendBeacon: a string body goes as text/plain.
        contentType: 'text/plain;charset=UTF-8',
        player: { name: 'Pillarbox', version: pick(['1.17.0', '1.18.1', '1.19.0']), platform: 'Web' },
        device: { id },
        browser: {
          user_agent: pick([
            'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
            'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
            'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
          ]),
        },
        screen: { width: 1280, height: 720 },
      };
  }
}

const event = (name, session, data) => JSON.stringify(envelope(name, session, data));

// ---- Sending ------------------------------------------------------------------------------------

// Few sockets, reused: what a fleet of players looks like to the service through a load balancer.
const client = target.protocol === 'https:' ? https : http;
// A `ca` replaces Node's list of trusted certificates: the system's are kept beside it.
const agent = new client.Agent({ keepAlive: true, maxSockets: 256, ...(ca && { ca: [...tls.rootCertificates, ca] }) });
const counts = { sent: 0, ok: 0, failed: 0, byName: {}, lastError: '' };
let inFlight = 0;
const MAX_IN_FLIGHT = 2000; // past that, events are dropped rather than queued without bound

/**
 * Sends one event of `device`. A player's events go out one after the other, as a real player's do (seconds
 * apart), so they arrive in order; events past MAX_IN_FLIGHT (sent or waiting) are dropped and counted as failed.
 */
function post(device, name, body) {
  if (inFlight >= MAX_IN_FLIGHT) {
    counts.failed++;
    counts.lastError = 'too many requests in flight: the service does not keep up';
    return;
  }
  inFlight++;
  counts.sent++;
  counts.byName[name] = (counts.byName[name] ?? 0) + 1;
  device.queue = device.queue.then(() => send(body, device.contentType));
}

function send(body, contentType) {
  return new Promise((resolve) => {
    const done = (error) => {
      inFlight--;
      if (error) {
        counts.failed++;
        counts.lastError = error;
      } else counts.ok++;
      resolve();
    };
    const req = client.request(
      target,
      { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode === 204 ? undefined : `HTTP ${res.statusCode}`));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (err) => done(err.code ?? err.message));
    req.end(body);
  });
}

// ---- Players ------------------------------------------------------------------------------------

const startedAt = Date.now();
const endsAt = startedAt + durationMs;
const timers = new Set();
let activeSessions = 0;

function later(ms, fn) {
  if (Date.now() + ms > endsAt) return false;
  const timer = setTimeout(() => {
    timers.delete(timer);
    fn();
  }, ms);
  timers.add(timer);
  return true;
}

function runPlayer(device) {
  const session = {
    id: randomUUID(),
    ...newPlayback(),
    // Exponential lengths around the mean, so that sessions end at scattered times.
    length: Math.max(heartbeatMs, -Math.log(1 - Math.random()) * sessionMs),
    ended: false,
  };
  device.session = session;
  activeSessions++;
  // Web players say the page they are on.
  const origin = device.flavour === 'web' ? 'https://www.rts.ch/play/tv' : undefined;
  post(device, 'START', event('START', session, startData(device, session, origin)));
  // Players send a first heartbeat with the START, then one per period.
  post(device, 'HEARTBEAT', event('HEARTBEAT', session, statusData(session, Date.now())));
  const beat = () => {
    if (session.ended) return;
    const now = Date.now();
    if (now - session.startedAt >= session.length) {
      end(device, session, Math.random() < errorRate ? 'ERROR' : 'STOP');
      // A pause between two media, then the next session.
      later(between(500, 3000), () => runPlayer(device));
      return;
    }
    if (Math.random() < 0.05) session.stalls++;
    post(device, 'HEARTBEAT', event('HEARTBEAT', session, statusData(session, now)));
    later(heartbeatMs, beat); // past --duration, finish() sends the STOP
  };
  later(heartbeatMs, beat);
}

function end(device, session, name) {
  if (session.ended) return;
  session.ended = true;
  activeSessions--;
  const data =
    name === 'ERROR'
      ? { ...pick(ERRORS[device.flavour]), ...statusData(session, Date.now()), log: '{"history":[]}' }
      : statusData(session, Date.now());
  post(device, name, event(name, session, data));
}

const devices = [];
for (let i = 0; i < players; i++) {
  const device = { ...newDevice(FLAVOURS[i % FLAVOURS.length]), queue: Promise.resolve(), session: undefined };
  devices.push(device);
  // Players start spread over the first heartbeat period, not all in the same millisecond.
  later(Math.random() * Math.min(heartbeatMs, durationMs / 2), () => runPlayer(device));
}

// ---- Progress and the end -----------------------------------------------------------------------

const tty = process.stderr.isTTY;
let lastSent = 0;
let lastAt = startedAt;
function progress(final = false) {
  if (args.quiet && !final) return;
  const now = Date.now();
  const rate = ((counts.sent - lastSent) * 1000) / Math.max(1, now - lastAt);
  lastSent = counts.sent;
  lastAt = now;
  const elapsed = Math.min(durationMs, now - startedAt) / 1000;
  const names = Object.entries(counts.byName)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');
  const line =
    `${elapsed.toFixed(0).padStart(4)}/${durationMs / 1000}s  sessions ${String(activeSessions).padStart(5)}  ` +
    `sent ${counts.sent} (${final ? 'done' : `${rate.toFixed(0)}/s`})  ok ${counts.ok}  failed ${counts.failed}` +
    `${counts.lastError ? ` (${counts.lastError})` : ''}  [${names}]`;
  process.stderr.write(tty && !final ? `\r${line.slice(0, (process.stderr.columns || 200) - 1)}\x1b[K` : `${line}\n`);
}

process.stderr.write(
  `Simulating ${players} players against ${target.href} for ${durationMs / 1000} s ` +
    `(heartbeat ${heartbeatMs / 1000} s, sessions ~${sessionMs / 1000} s, errors ${errorRate * 100}%)\n`,
);
const ticker = setInterval(() => progress(), tty ? 1000 : 5000);

let finishing = false;
async function finish(signal) {
  if (finishing) return;
  finishing = true;
  clearInterval(ticker);
  for (const timer of timers) clearTimeout(timer);
  // Every session still playing stops, as players do when closed.
  for (const device of devices) if (device.session) end(device, device.session, 'STOP');
  const deadline = Date.now() + 5000;
  while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (tty) process.stderr.write('\n');
  progress(true);
  agent.destroy();
  process.exit(signal ? 130 : counts.ok > 0 ? 0 : 1);
}

setTimeout(() => void finish(), durationMs);
process.once('SIGINT', () => void finish('SIGINT'));
process.once('SIGTERM', () => void finish('SIGTERM'));
