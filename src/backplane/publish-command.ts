import { Command } from 'ioredis';
import type { BroadcastEvent } from '../common/broadcast-event.js';
import type { RedisMessageCodec } from './redis-message.js';

/** Request buffers kept for the next messages once Redis has answered theirs. */
const KEPT_BUFFERS = 2;

/**
 * Buffers for publish requests, each taken again only once Redis has answered the request it carried: by then the
 * request has been written and will not be sent again (a cluster redirection sends the same bytes), so nothing
 * still reads it. Without them, every message was two new buffers (ours and ioredis's copy), memory outside V8's
 * heap that V8 counts against the old generation's limit: under load it marked and compacted the old generation
 * every quarter second, 10 times as often as without Redis.
 */
export class RequestBuffers {
  private readonly kept: Buffer[] = [];

  /**
   * A buffer of at least `length` bytes, kept or new. A new one has room for a message half as large again, as the
   * next turn's may be, but no more: while Redis does not answer, every message holds its buffer (up to
   * MAX_UNCONFIRMED_PUBLISHES events), so a large minimum size would multiply that memory when turns are small.
   */
  take(length: number): Buffer {
    const i = this.kept.findIndex((b) => b.length >= length);
    if (i >= 0) return this.kept.splice(i, 1)[0];
    return Buffer.allocUnsafeSlow(length + (length >> 1));
  }

  /**
   * Takes `buffer` back once its request is answered; its first `used` bytes are cleared: no event stays behind.
   * The largest buffers are kept.
   */
  give(buffer: Buffer, used: number): void {
    buffer.fill(0, 0, used);
    this.kept.push(buffer);
    if (this.kept.length <= KEPT_BUFFERS) return;
    this.kept.sort((a, b) => b.length - a.length);
    this.kept.length = KEPT_BUFFERS;
  }
}

/**
 * A PUBLISH or SPUBLISH of one message, its RESP request written here straight into a buffer of `buffers`, which
 * it gives back once settled. ioredis sends what `toWritable` returns as it is.
 */
export class PublishCommand extends Command {
  private readonly request: Buffer;

  constructor(
    name: 'publish' | 'spublish',
    channel: string,
    codec: RedisMessageCodec,
    events: readonly BroadcastEvent[],
    buffers: RequestBuffers,
  ) {
    // The channel stays an argument: the cluster client finds the slot from it. The message is in `request` only.
    super(name, [channel, ''], { replyEncoding: null });
    const plan = codec.plan(events);
    const head = `*3\r\n$${name.length}\r\n${name}\r\n$${Buffer.byteLength(channel)}\r\n${channel}\r\n$${plan.length}\r\n`;
    const length = Buffer.byteLength(head) + plan.length + 2;
    const buffer = buffers.take(length);
    let at = buffer.write(head, 0);
    at = codec.write(events, plan, buffer, at);
    at += buffer.write('\r\n', at, 'latin1');
    this.request = buffer.subarray(0, at);
    const giveBack = () => buffers.give(buffer, at);
    this.promise.then(giveBack, giveBack);
  }

  override toWritable(): Buffer {
    return this.request;
  }
}
