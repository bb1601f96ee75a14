/**
 * Requests that never reach a handler because Node's HTTP parser refused them: headers over the size
 * limit (e.g. a 100 KB bearer token), a request line over it, malformed syntax. Node's default answer is
 * a bare status line or a reset connection; Pier answers with a status and the spec's JSON error body,
 * then closes the connection gently: the rest of what the client sends is read and dropped for a moment,
 * because closing with unread bytes makes the kernel reset the connection before the client reads the
 * answer.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

const LINGER_MS = 2_000;

interface ParserError extends Error {
  code?: string;
  rawPacket?: Buffer;
}

export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: ParserError, socket: Socket) => {
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy(); // mid-response or already closing: nothing sensible to add
      return;
    }
    const [status, reason, code, message] = describe(error);
    const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
    socket.on('error', () => undefined);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.resume(); // drain, so that closing does not reset the connection under the answer
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}

function describe(error: ParserError): [number, string, string, string] {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    const raw = error.rawPacket;
    if (raw && !raw.includes('\r\n')) return [414, 'URI Too Long', 'NAME_INVALID', 'the request line is longer than the server accepts'];
    return [431, 'Request Header Fields Too Large', 'UNSUPPORTED', 'the request headers are larger than the server accepts'];
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || error.code === 'HPE_HEADERS_TIMEOUT') return [408, 'Request Timeout', 'UNSUPPORTED', 'the request headers did not arrive in time'];
  return [400, 'Bad Request', 'UNSUPPORTED', 'malformed HTTP request'];
}
