import { request } from './http.js';

/** The samples of a Prometheus text exposition, keyed `name{label="value",...}` as written. */
export type Samples = Map<string, number>;

export function parseMetrics(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** GET /metrics, parsed; fails the test unless the answer is 200 Prometheus text. */
export async function scrape(baseUrl: string, headers: Record<string, string> = {}): Promise<Samples> {
  const res = await request(`${baseUrl}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${res.body}`);
  if (!String(res.headers['content-type']).startsWith('text/plain')) {
    throw new Error(`GET /metrics content-type ${res.headers['content-type']}`);
  }
  return parseMetrics(res.body);
}

/** One sample; throws when it is absent, so that a renamed metric fails loudly. */
export function sample(samples: Samples, key: string): number {
  const value = samples.get(key);
  if (value === undefined) throw new Error(`no sample ${key} in /metrics`);
  return value;
}
