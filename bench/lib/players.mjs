// What Pillarbox players send, for the soak scenario: the shapes of scripts/simulate.mjs (which is a script, and
// exports nothing), with the encodings players use: web players post with navigator.sendBeacon (text/plain),
// some native ones compress their bodies (gzip).
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';

const pick = (list) => list[Math.floor(Math.random() * list.length)];
const between = (min, max) => Math.round(min + Math.random() * (max - min));

const MEDIA = [
  'urn:rts:video:14827306',
  'urn:rts:video:15008232',
  'urn:rsi:video:2691851',
  'urn:srf:video:c4927fcf-e1a0-0001-7edd-1ef01d441651',
  'urn:swi:video:48940210',
  'urn:rts:audio:3262363',
];

const ERRORS = {
  web: [{ name: 'MEDIA_ERR_NETWORK: 2', message: 'A network error caused the media download to fail part-way.' }],
  apple: [{ name: 'CoreMediaErrorDomain(-12938)', message: 'HTTP 404: File Not Found' }],
  android: [{ name: 'ERROR_CODE_IO_BAD_HTTP_STATUS', message: 'Response code: 403' }],
};

/** Web (half of them, sendBeacon: text/plain), Apple (JSON), Android (JSON, gzip-encoded). */
const FLAVOURS = ['web', 'web', 'apple', 'android'];

/** A player: what stays the same from one of its sessions to the next. */
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
  return { id, device, media: pick(MEDIA), live: Math.random() < 0.25, startedAt: Date.now(), stalls: 0, n: 0 };
}

function startData(session) {
  const { device } = session;
  return {
    device: device.device,
    media: {
      id: session.media,
      asset_url: `https://rts-vod-amd.akamaized.net/ww/${session.media.split(':').pop()}/master.m3u8`,
      metadata_url: `https://il.srgssr.ch/integrationlayer/2.1/mediaComposition/byUrn/${session.media}`,
    },
    player: device.player,
    qoe_timings: { metadata: between(80, 400), asset: between(200, 1500), total: between(400, 2500) },
    qos_timings: { metadata: between(60, 300), asset: between(150, 1200), token: between(20, 120) },
    screen: device.screen,
    ...(device.os && { os: device.os }),
    ...(device.browser && { browser: device.browser }),
  };
}

function statusData(session) {
  const now = Date.now();
  const played = now - session.startedAt;
  if (Math.random() < 0.05) session.stalls++;
  return {
    bandwidth: between(2_000_000, 40_000_000),
    bitrate: pick([800_000, 1_600_000, 3_500_000, 6_000_000]),
    buffered_duration: between(2_000, 30_000),
    frame_drops: between(0, 3),
    playback_duration: played,
    position: session.live ? undefined : played,
    position_timestamp: session.live ? now - 10_000 : undefined,
    stall: { count: session.stalls, duration: session.stalls * between(300, 1500) },
    stream_type: session.live ? 'Live' : 'On-demand',
    url: `https://rts-vod-amd.akamaized.net/ww/${session.media.split(':').pop()}/1080p.m3u8`,
  };
}

/**
 * The next event of `session` (`name`: START, HEARTBEAT, STOP or ERROR) as the player would post it, with the
 * benchmark's marks: `bench_seq` (unique in the run) and `bench_n` (its place in the session).
 * @returns `{ name, sessionId, seq, n, body, headers }`, body a string or (gzip) a Buffer
 */
export function playerEvent(session, name, seq) {
  const data =
    name === 'START'
      ? startData(session)
      : name === 'ERROR'
        ? { ...pick(ERRORS[session.device.flavour]), ...statusData(session) }
        : statusData(session);
  const n = session.n++;
  const text = JSON.stringify({
    event_name: name,
    session_id: session.id,
    timestamp: Date.now(),
    version: 1,
    data,
    bench_seq: seq,
    bench_n: n,
  });
  const { headers } = session.device;
  const body = headers['content-encoding'] === 'gzip' ? zlib.gzipSync(text) : text;
  return { name, sessionId: session.id, seq, n, body, headers };
}
