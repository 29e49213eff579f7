import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';

/** The status Node's own handler gives a request its parser refused. */
function statusOf(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

/**
 * Answers the requests that Node's HTTP parser refuses (conflicting Content-Length, too many headers, a broken
 * request line...) like every other refusal of the service: a JSON body that any origin may read. Node's own
 * handler sends an empty answer without CORS, which a player's browser cannot even read.
 * As Node's does, it answers only when nothing was written on the connection yet (not in the middle of a
 * pipelined response), then closes the connection.
 */
export function answerClientErrorsInJson(server: Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const status = statusOf(err.code);
    const error = STATUS_CODES[status] ?? 'Bad Request';
    const body = JSON.stringify({ statusCode: status, message: `Malformed HTTP request: ${error}`, error });
    socket.end(
      `HTTP/1.1 ${status} ${error}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Access-Control-Allow-Origin: *\r\n' +
        'Connection: close\r\n\r\n' +
        body,
      // The server's sockets are half-open: without this, a client that never closes would keep it.
      () => socket.destroy(),
    );
  });
}
