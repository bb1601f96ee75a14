/**
 * Copies part of a local file to an HTTP response without allocating per chunk: reads go into buffers
 * taken from a small shared pool and are handed back when the socket has taken the bytes (the write's
 * callback), so a 1 GiB pull costs no garbage collection. The next read runs while the previous chunk is
 * being written; a slow client stops the reading (backpressure) after at most two chunks in flight, so
 * memory per response is bounded by two chunks whatever the file size.
 */
import type { ServerResponse } from 'node:http';
import type { FileHandle } from 'node:fs/promises';

/** Read size: large enough that syscalls per GiB stay few, small enough that two per response are cheap. */
export const SEND_CHUNK = 1024 * 1024;
/** Buffers kept for reuse between responses (at most this many MiB stay allocated when idle). */
const POOL_LIMIT = 32;
const pool: Buffer[] = [];

function take(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(SEND_CHUNK);
}

function giveBack(buffer: Buffer): void {
  if (pool.length < POOL_LIMIT) pool.push(buffer);
}

/** Writes `length` bytes of the file from `start`, then ends the response. Throws if the file is shorter. */
export async function sendFileRange(res: ServerResponse, handle: FileHandle, start: number, length: number): Promise<void> {
  // 'close' before the end means the client went away (an HTTP/2 compatibility response has no `destroyed`).
  const closed = closedSignal(res);
  let position = start;
  let remaining = length;
  const readNext = async (): Promise<{ buffer: Buffer; bytes: number }> => {
    const buffer = take();
    const want = Math.min(SEND_CHUNK, remaining);
    let bytes = 0;
    try {
      while (bytes < want) {
        const { bytesRead } = await handle.read(buffer, bytes, want - bytes, position + bytes);
        if (bytesRead === 0) throw new Error(`the file ended ${remaining - bytes} bytes early`);
        bytes += bytesRead;
      }
    } catch (error) {
      giveBack(buffer);
      throw error;
    }
    position += bytes;
    remaining -= bytes;
    return { buffer, bytes };
  };
  // A read that fails while the loop waits for the socket is reported when the loop awaits it, not as an
  // unhandled rejection.
  const readAhead = () => {
    const read = readNext();
    read.catch(() => undefined);
    return read;
  };
  let next = remaining > 0 ? readAhead() : undefined;
  while (next) {
    const { buffer, bytes } = await next;
    if (closed.happened) {
      giveBack(buffer);
      return;
    }
    next = remaining > 0 ? readAhead() : undefined;
    // The callback runs once the socket has the bytes (or failed): only then may the buffer be reused.
    const flowing = res.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), () => giveBack(buffer));
    if (!flowing && next) await drainedOrClosed(res, closed);
  }
  res.end();
}

/** Whether the response has emitted 'close' (watched from the start of the body). */
export function closedSignal(res: ServerResponse): { readonly happened: boolean } {
  const signal = { happened: false };
  res.once('close', () => (signal.happened = true));
  return signal;
}

/** Resolves when the response can take more data, or has closed. */
export function drainedOrClosed(res: ServerResponse, closed: { readonly happened: boolean }): Promise<void> {
  if (closed.happened) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
