import { Command, Redis } from 'ioredis';
import { describeWithRedis, RedisServer } from '../../test/support/redis-server.js';
import { waitUntil } from '../../test/support/wait-until.js';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import { PublishCommand, RequestBuffers } from './publish-command.js';
import { RedisMessageCodec } from './redis-message.js';

const codec = new RedisMessageCodec('AAAAAAAAAAAAAAAA');
const event = (text: string, sessionId?: string): BroadcastEvent => ({
  frame: Buffer.from(`data: {"text":"${text}"}\n\n`),
  eventName: 'START',
  sessionId,
});

describe('PublishCommand', () => {
  it.each([
    ['publish', 'pillarbox:events'],
    ['spublish', 'événements:ü'],
  ] as const)('writes the %s request ioredis would write for the encoded message', (name, channel) => {
    const events = [event('a', 's-é\u2028'), event('b'), event('ç'.repeat(50), '"quoted"')];
    const expected = new Command(name, [channel, codec.encode(events)]).toWritable({});
    const command = new PublishCommand(name, channel, codec, events, new RequestBuffers());
    expect(command.toWritable()).toEqual(expected);
    expect(command.args[0]).toBe(channel); // the cluster client finds the slot from it
  });

  it('gives its buffer back, cleared, once settled, and not before', async () => {
    const buffers = new RequestBuffers();
    const command = new PublishCommand('publish', 'c', codec, [event('secret')], buffers);
    const request = command.toWritable();
    // Taken meanwhile: another buffer.
    const other = buffers.take(10);
    expect(other.buffer).not.toBe(request.buffer);
    command.resolve(1);
    await command.promise;
    const again = buffers.take(10);
    expect(again.buffer).toBe(request.buffer);
    expect(again.subarray(0, request.length).every((byte) => byte === 0)).toBe(true);
  });

  it('gives its buffer back when rejected too', async () => {
    const buffers = new RequestBuffers();
    const command = new PublishCommand('publish', 'c', codec, [event('x')], buffers);
    command.reject(new Error('connection lost'));
    await expect(command.promise).rejects.toThrow('connection lost');
    expect(buffers.take(10).buffer).toBe(command.toWritable().buffer);
  });
});

describe('RequestBuffers', () => {
  it('makes a new buffer with room for half as much again, no more (a Redis that does not answer holds them all)', () => {
    const buffers = new RequestBuffers();
    expect(buffers.take(600).length).toBe(900);
    expect(buffers.take(3 * 1024 * 1024).length).toBe(4.5 * 1024 * 1024);
  });

  it('keeps the two largest buffers given back, and serves a small request from a large one', () => {
    const buffers = new RequestBuffers();
    const taken = [buffers.take(100), buffers.take(10_000), buffers.take(100), buffers.take(5_000)];
    for (const b of taken) buffers.give(b, 10);
    const back = [buffers.take(100), buffers.take(100), buffers.take(100)];
    // The same buffers (identity, not contents): the 10,000- and 5,000-byte ones.
    expect([taken[1], taken[3]].every((b) => back.slice(0, 2).includes(b))).toBe(true);
    expect(taken).not.toContain(back[2]);
  });
});

describeWithRedis('PublishCommand on a real Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis?.stop());

  it('delivers every message intact while Redis is slow to answer (no buffer is reused too early)', async () => {
    const publisher = new Redis(redis.url);
    const subscriber = new Redis(redis.url);
    try {
      const received: Buffer[] = [];
      subscriber.on('messageBuffer', (_channel: Buffer, message: Buffer) => received.push(Buffer.from(message)));
      await subscriber.subscribe('c');
      await publisher.ping();
      const buffers = new RequestBuffers();
      // 40 messages of 256 kB, more than the sockets hold while Redis is stopped: most wait in this process.
      const messages = Array.from({ length: 40 }, (_, i) => [event(`${i}:`.padEnd(256 * 1024, '.'))]);
      const commands: PublishCommand[] = [];
      process.kill(redis.pid as number, 'SIGSTOP');
      // One after the other, as the backplane sends them: each takes a buffer while the previous ones still wait.
      for (const events of messages) {
        const command = new PublishCommand('publish', 'c', codec, events, buffers);
        commands.push(command);
        void publisher.sendCommand(command);
      }
      const queued = publisher.stream.writableLength;
      process.kill(redis.pid as number, 'SIGCONT');
      const replies = await Promise.all(commands.map((c) => c.promise));
      await waitUntil(() => received.length === messages.length, 5_000, 'every message');
      expect(queued).toBeGreaterThan(1024 * 1024); // the test's premise: requests waited here, not in the kernel
      expect(replies).toEqual(messages.map(() => 1));
      // Compared as booleans: jest's diff of megabytes of buffers takes seconds.
      expect(messages.map((events, i) => codec.encode(events).equals(received[i]))).toEqual(messages.map(() => true));
    } finally {
      process.kill(redis.pid as number, 'SIGCONT');
      publisher.disconnect();
      subscriber.disconnect();
    }
  });
});
