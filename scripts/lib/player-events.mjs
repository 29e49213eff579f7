// What Pillarbox players send (the shapes of their monitoring events), for the simulator (scripts/simulate.mjs) and
// the soak benchmark (bench/lib/players.mjs): one copy, so that both post the same events.

export const pick = (list) => list[Math.floor(Math.random() * list.length)];
export const between = (min, max) => Math.round(min + Math.random() * (max - min));

// The soak benchmark plays the first six media and reports the first error of each flavour: keep those first, so
// that its runs stay comparable.
export const MEDIA = [
  'urn:rts:video:14827306',
  'urn:rts:video:15008232',
  'urn:rsi:video:2691851',
  'urn:srf:video:c4927fcf-e1a0-0001-7edd-1ef01d441651',
  'urn:swi:video:48940210',
  'urn:rts:audio:3262363',
  'urn:rtr:video:a6d9f3c5-3b0a-4c0a-b8b2-0e0d3f0c7d1f',
  'urn:srf:audio:8f1ae5e0-5e75-4c5c-9e2b-2b7c1b8f4f1b',
];

export const ERRORS = {
  web: [
    { name: 'MEDIA_ERR_NETWORK: 2', message: 'A network error caused the media download to fail part-way.' },
    { name: 'MEDIA_ERR_DECODE: 3', message: 'The media playback was aborted due to a corruption problem.' },
    { name: 'MEDIA_ERR_SRC_NOT_SUPPORTED: 4', message: 'The media could not be loaded, the server or network failed.' },
    { name: 'MEDIA_ERR_ENCRYPTED: 5', message: 'The media is encrypted and we do not have the keys to decrypt it.' },
  ],
  apple: [
    { name: 'CoreMediaErrorDomain(-12938)', message: 'HTTP 404: File Not Found' },
    { name: 'NSURLErrorDomain(-1009)', message: 'The Internet connection appears to be offline.' },
    { name: 'AVFoundationErrorDomain(-11819)', message: 'Cannot Complete Action' },
  ],
  android: [
    { name: 'ERROR_CODE_IO_BAD_HTTP_STATUS', message: 'Response code: 403' },
    { name: 'ERROR_CODE_IO_NETWORK_CONNECTION_FAILED', message: 'Unable to connect to the server' },
    { name: 'ERROR_CODE_DECODER_INIT_FAILED', message: 'Decoder init failed: c2.android.avc.decoder' },
  ],
};

/** Player i is of flavour FLAVOURS[i % FLAVOURS.length]: half web, a quarter Apple, a quarter Android. */
export const FLAVOURS = ['web', 'web', 'apple', 'android'];

/** What a session plays, as startData and statusData read it: one of `media`, live a quarter of the time. */
export function newPlayback(media = MEDIA) {
  return { media: pick(media), live: Math.random() < 0.25, startedAt: Date.now(), stalls: 0 };
}

/** The data of a START of `session` on `device`; `origin` (the page of a web player) is left out when undefined. */
export function startData(device, session, origin) {
  const data = {
    device: device.device,
    media: {
      id: session.media,
      asset_url: `https://rts-vod-amd.akamaized.net/ww/${session.media.split(':').pop()}/master.m3u8`,
      metadata_url: `https://il.srgssr.ch/integrationlayer/2.1/mediaComposition/byUrn/${session.media}`,
      origin,
    },
    player: device.player,
    qoe_timings: { metadata: between(80, 400), asset: between(200, 1500), total: between(400, 2500) },
    qos_timings: { metadata: between(60, 300), asset: between(150, 1200), drm: undefined, token: between(20, 120) },
    screen: device.screen,
  };
  if (device.os) data.os = device.os;
  if (device.browser) data.browser = device.browser;
  return data;
}

/** The data of a HEARTBEAT, STOP or ERROR of `session` at `now`: the caller counts the stalls. */
export function statusData(session, now) {
  const played = now - session.startedAt;
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

/** An event as players post it (before JSON.stringify): `name` is START, HEARTBEAT, STOP or ERROR. */
export function envelope(name, session, data) {
  return { event_name: name, session_id: session.id, timestamp: Date.now(), version: 1, data };
}
