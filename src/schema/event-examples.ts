/** One event of each type, in the shape the Pillarbox players send (monitoring format, version 1). */
const SESSION = '6b1d3c52-0f3e-4a52-9b8e-2d7c4f1e9a30';

export const EVENT_EXAMPLES = {
  START: {
    event_name: 'START',
    session_id: SESSION,
    timestamp: 1750000000000,
    version: 1,
    data: {
      browser: { name: 'Firefox', version: '139.0' },
      device: { id: '0f5cb1d2-7a8e-4c43-9d61-3e2b8f4a7c15', model: 'Macintosh', type: 'Desktop' },
      media: {
        asset_url: 'https://example.com/vod/12345/master.m3u8',
        id: 'urn:rts:video:12345',
        metadata_url: 'https://example.com/mediaComposition/byUrn/urn:rts:video:12345',
        origin: 'https://www.example.com/info/article/123',
      },
      os: { name: 'macOS', version: '15.5' },
      player: { name: 'Pillarbox', platform: 'Web', version: '1.20.0' },
      qoe_timings: { asset: 1145, metadata: 412, total: 1763 },
      qos_timings: { asset: 1145, drm: 245, metadata: 412, token: 356 },
      screen: { height: 1080, width: 1920 },
    },
  },
  HEARTBEAT: {
    event_name: 'HEARTBEAT',
    session_id: SESSION,
    timestamp: 1750000030000,
    version: 1,
    data: {
      bandwidth: 23285774,
      bitrate: 6129146,
      buffered_duration: 36000,
      playback_duration: 30000,
      position: 28855,
      stall: { count: 0, duration: 0 },
      stream_type: 'on-demand',
      url: 'https://example.com/vod/12345/index-f5-v1.m3u8',
    },
  },
  ERROR: {
    event_name: 'ERROR',
    session_id: SESSION,
    timestamp: 1750000041000,
    version: 1,
    data: {
      message: 'Segment exceeds specified bandwidth for variant',
      name: 'MEDIA_ERR_NETWORK',
      position: 39870,
      severity: 'WARNING',
      url: 'https://example.com/vod/12345/index-f4-v1.m3u8',
    },
  },
  STOP: {
    event_name: 'STOP',
    session_id: SESSION,
    timestamp: 1750000052000,
    version: 1,
    data: {
      bandwidth: 21874512,
      bitrate: 6129146,
      buffered_duration: 24000,
      playback_duration: 52000,
      position: 50210,
      stall: { count: 1, duration: 850 },
      stream_type: 'on-demand',
      url: 'https://example.com/vod/12345/index-f5-v1.m3u8',
    },
  },
} as const;
