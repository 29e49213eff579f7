// What Pillarbox players send, for the soak scenario: the event shapes the simulator posts too
// (scripts/lib/player-events.mjs), with the encodings players use: web players post with navigator.sendBeacon
// (text/plain), some native ones compress their bodies (gzip).
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import {
  envelope,
  ERRORS,
  FLAVOURS,
  MEDIA,
  newPlayback,
  pick,
  startData,
  statusData,
} from '../../scripts/lib/player-events.mjs';

// The soak keeps to six media and one error a flavour (the first ones of the shared lists), as it always has.
const SOAK_MEDIA = MEDIA.slice(0, 6);

/**
 * A player: what stays the same from one of its sessions to the next. Web (sendBeacon: text/plain), Apple (JSON),
 * Android (JSON, gzip-encoded).
 */
export function newDevice(i) {
  const flavour = FLAVOURS[i % FLAVOURS.length];
  const base = { flavour, device: { id: randomUUID() } };
  switch (flavour) {
    case 'apple':
      return {
        ...base,
        headers: { 'content-type': 'application/json' },
        player: { name: 'Pillarbox', version: '8.2.1', platform: 'Apple' },
        device: { ...base.device, model: 'iPhone16,1', type: 'Phone' },
        os: { name: 'iOS', version: '18.3' },
        screen: { width: 393, height: 852 },
      };
    case 'android':
      return {
        ...base,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        player: { name: 'Pillarbox', version: '3.1.2', platform: 'Android' },
        device: { ...base.device, model: pick(['Pixel 8', 'SM-S921B']), type: 'Phone' },
        os: { name: 'Android', version: '15' },
        screen: { width: 1080, height: 2400 },
      };
    default:
      return {
        ...base,
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        player: { name: 'Pillarbox', version: '1.19.0', platform: 'Web' },
        browser: {
          user_agent:
            'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
        },
        screen: { width: 1280, height: 720 },
      };
  }
}

/** A session of `device`: `id` is given for the sessions that filtered readers follow. */
export function newSession(device, id = randomUUID()) {
  return { id, device, ...newPlayback(SOAK_MEDIA), n: 0 };
}

// Unlike the simulator's, a soak session may stall on any status event, its ERROR included.
function soakStatusData(session) {
  const now = Date.now();
  if (Math.random() < 0.05) session.stalls++;
  return statusData(session, now);
}

/**
 * The next event of `session` (`name`: START, HEARTBEAT, STOP or ERROR) as the player would post it, with the
 * benchmark's marks: `bench_seq` (unique in the run) and `bench_n` (its place in the session).
 * @returns `{ name, sessionId, seq, n, body, headers }`, body a string or (gzip) a Buffer
 */
export function playerEvent(session, name, seq) {
  const data =
    name === 'START'
      ? startData(session.device, session)
      : name === 'ERROR'
        ? { ...ERRORS[session.device.flavour][0], ...soakStatusData(session) }
        : soakStatusData(session);
  const n = session.n++;
  const text = JSON.stringify({ ...envelope(name, session, data), bench_seq: seq, bench_n: n });
  const { headers } = session.device;
  const body = headers['content-encoding'] === 'gzip' ? zlib.gzipSync(text) : text;
  return { name, sessionId: session.id, seq, n, body, headers };
}
