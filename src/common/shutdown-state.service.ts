import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Injectable } from '@nestjs/common';
import { isStreamRequest } from './stream-request.js';

/**
 * Serving, then (from SIGTERM on) draining: readiness fails while everything else is still served, so that load
 * balancers take the instance out before it stops listening; then closing: the listener is closed, streams end,
 * the requests in flight are answered.
 */
export type ShutdownPhase = 'serving' | 'draining' | 'closing';

/**
 * Where the instance is in its shutdown (see ShutdownPhase), and the HTTP requests that it waits for. From the
 * drain on, every response says `Connection: close`, so that a client or proxy never sends another request on a
 * connection that this instance is about to close (it would be lost, reset, or answered 502).
 */
@Injectable()
export class ShutdownState {
  private current: ShutdownPhase = 'serving';
  /**
   * Responses not yet finished, other than streams, each in a slot of its own that is reused once it finishes (the
   * free slots are in `freeSlots`). A Set churned by every request reallocates its table, and, the Set being
   * long-lived, in the old generation: about 90 bytes a request that only a full garbage collection reclaims.
   */
  private readonly inFlight: (ServerResponse | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** Every open connection of the server, streams' included. */
  private readonly connections = new Set<Socket>();

  get phase(): ShutdownPhase {
    return this.current;
  }

  /** Draining or closing: readiness fails. */
  get isShuttingDown(): boolean {
    return this.current !== 'serving';
  }

  /** The listener is closed: new streams are refused. */
  get isClosing(): boolean {
    return this.current === 'closing';
  }

  /**
   * Follows every request of `server`, on both ingest lanes: called once the request listeners are in place, it
   * goes first.
   */
  watch(server: Server): void {
    const connections = this.connections;
    // One listener for every socket, rather than a closure per connection kept as long as it is open (a stream's).
    function forget(this: Socket): void {
      connections.delete(this);
    }
    server.on('connection', (socket: Socket) => {
      connections.add(socket);
      socket.on('close', forget);
    });
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.isShuttingDown) res.setHeader('Connection', 'close');
      // A stream never ends by itself: the requests a shutdown waits for are the others.
      if (isStreamRequest(req)) return;
      const slot = this.freeSlots.pop() ?? this.inFlight.length;
      this.inFlight[slot] = res;
      res.once('close', () => {
        this.inFlight[slot] = undefined;
        this.freeSlots.push(slot);
      });
    });
  }

  /** Readiness fails from now on; responses close their connection, including those of requests in flight. */
  drain(): void {
    if (this.current !== 'serving') return;
    this.current = 'draining';
    for (const res of this.inFlight) if (res && !res.headersSent) res.setHeader('Connection', 'close');
  }

  close(): void {
    this.drain();
    this.current = 'closing';
  }

  /**
   * Whether no request can arrive any more: every connection still open is an open stream's (`streams`). Once
   * the listener is closed, a connection that is not a stream's may still carry a request (one accepted just
   * before, or in flight): until it has closed, a 204 could be given for an event after the streams ended.
   */
  onlyStreamsLeft(streams: ReadonlySet<unknown>): boolean {
    for (const socket of this.connections) if (!streams.has(socket)) return false;
    return true;
  }

  /**
   * Closes the connections that are neither a stream's (`streams`) nor carrying a request whose response is
   * unfinished: opened and silent, or part of a request head. Node's closeIdleConnections() leaves those open.
   */
  closeRequestless(streams: ReadonlySet<unknown>): void {
    const busy = new Set<Socket | null>();
    for (const res of this.inFlight) if (res) busy.add(res.socket);
    for (const socket of this.connections) if (!streams.has(socket) && !busy.has(socket)) socket.destroy();
  }
}
