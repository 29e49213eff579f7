import { once } from 'node:events';
import { Agent, createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShutdownState } from './shutdown-state.service.js';

/** A server whose responses wait until the test answers them, watched by a ShutdownState. */
async function heldServer(): Promise<{
  server: Server;
  state: ShutdownState;
  held: Map<string, ServerResponse>;
  request(path: string): Promise<{ response: Promise<IncomingMessage> }>;
  agent: Agent;
}> {
  // Keep-alive requests: a response says Connection: close only when the server decides so.
  const agent = new Agent({ keepAlive: true });
  const state = new ShutdownState();
  const held = new Map<string, ServerResponse>();
  const arrived: (() => void)[] = [];
  const server = createServer((req, res) => {
    held.set(req.url ?? '', res);
    arrived.shift()?.();
  });
  state.watch(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    state,
    held,
    agent,
    // Once the server has the request: its response, to come.
    async request(path) {
      const seen = new Promise<void>((resolve) => arrived.push(resolve));
      const answer = new Promise<IncomingMessage>((resolve, reject) =>
        get({ host: '127.0.0.1', port, path, agent }, resolve).on('error', reject),
      );
      await seen;
      return { response: answer };
    },
  };
}

async function answer(res: ServerResponse, pending: { response: Promise<IncomingMessage> }): Promise<IncomingMessage> {
  res.end('ok');
  const response = await pending.response;
  response.resume();
  await once(response, 'end');
  return response;
}

describe('ShutdownState', () => {
  let server: Server | undefined;
  let agent: Agent | undefined;

  afterEach(async () => {
    agent?.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('gives Connection: close to every request in flight at the drain, also those in slots freed and taken again', async () => {
    const s = await heldServer();
    ({ server, agent } = s);
    const a = await s.request('/a');
    const b = await s.request('/b');
    // /a finishes: its slot is free, and /c takes it.
    expect((await answer(s.held.get('/a')!, a)).headers.connection).not.toBe('close');
    const c = await s.request('/c');
    const d = await s.request('/d');

    s.state.drain();

    for (const [path, pending] of [
      ['/b', b],
      ['/c', c],
      ['/d', d],
    ] as const) {
      expect([path, (await answer(s.held.get(path)!, pending)).headers.connection]).toEqual([path, 'close']);
    }
  });

  it('leaves the streams of GET /events out of the requests in flight', async () => {
    const s = await heldServer();
    ({ server, agent } = s);
    const stream = await s.request('/events');
    const other = await s.request('/health');
    const streamRes = s.held.get('/events')!;
    s.state.drain();
    expect((await answer(s.held.get('/health')!, other)).headers.connection).toBe('close');
    expect((await answer(streamRes, stream)).headers.connection).not.toBe('close');
  });
});
