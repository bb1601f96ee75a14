/**
 * Copies part of a local file to an HTTP response without allocating per chunk: reads go into 1 MiB
 * buffers from a shared pool and are handed back when the socket has taken the bytes (the write's
 * callback), so a 1 GiB pull costs no garbage collection. While few responses send, the next read runs
 * while the previous chunk is being written; a slow client stops the reading (backpressure) once a chunk
 * waits in its socket.
 *
 * Memory is a per-process budget for reading: at most READ_SLOTS buffers are being filled at once, and a
 * response whose next read finds them all taken waits in line for one; up to KEPT_BUFFERS are kept for reuse. A pull storm
 * used to hold two chunks per response, mostly read-aheads queued behind the four libuv threads that do
 * the reads; now it holds the budget plus, per response, at most the one chunk its socket has not taken
 * yet. Only reads wait for a slot, never clients: a slot is freed when its read ends, so clients that stop
 * reading cannot stall other downloads. Small chunks were measured as the alternative and cost about
 * 40 µs of CPU per extra chunk (a thread-pool round trip and a socket write): a storm at 128 KiB
 * took 2.7× the CPU.
 */
import type { ServerResponse } from 'node:http';
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** Read size: large enough that syscalls and event-loop turns per GiB stay few. */
export const SEND_CHUNK = 1024 * 1024;
/** Reads in flight per process (16 MiB). */
export const READ_SLOTS = 16;
/**
 * Buffers kept allocated per process, free or being read into (64 MiB at most). A buffer back from a
 * socket is kept rather than left to the collector: under load, dropped 1 MiB buffers wait for a full
 * garbage collection and pile up (a storm's peak RSS was 467 MiB keeping 16, 399 MiB keeping 64, and 399
 * keeping 112).
 */
export const KEPT_BUFFERS = 64;

/** Free buffers; `free.length + reading <= KEPT_BUFFERS`. */
const free: Buffer[] = [];
/** Slots held by reads in progress (or handed to a waiter). */
let reading = 0;
const waiters: Array<() => void> = [];
/** Responses copying a file now. */
let sending = 0;
/** Up to this many responses sending at once, each reads its next chunk while writing the last. */
const AHEAD_LIMIT = 4;

function slotTaken(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(SEND_CHUNK);
}

/** Hands a buffer to `use` once a read slot is free (at once when one is). */
function takeForRead(use: (buffer: Buffer) => void): void {
  if (reading < READ_SLOTS) {
    reading++;
    use(slotTaken());
  } else {
    waiters.push(() => use(slotTaken()));
  }
}

/** The read into a buffer has ended (its bytes go to a socket, or it failed): its slot passes on. */
function endRead(): void {
  const next = waiters.shift();
  if (next) next();
  else reading--;
}

/** A buffer nobody uses any more: kept while the budget has room, else left to the collector. */
function recycle(buffer: Buffer): void {
  if (free.length + reading < KEPT_BUFFERS) free.push(buffer);
}

/** What the pool holds now (for tests and diagnostics). */
export function sendBufferStats(): { reading: number; free: number; waiting: number; sending: number } {
  return { reading, free: free.length, waiting: waiters.length, sending };
}

/**
 * Writes `length` bytes of the file from `start`, then ends the response. Rejects if the file is shorter
 * or cannot be read; resolves without ending the response when the client went away. It settles only once
 * no read is in flight, so the caller may close the file then.
 *
 * Callbacks rather than promises: with a request scope (AsyncLocalStorage) active, every promise pays for
 * the async hooks, and a chunk took several.
 */
export function sendFileRange(res: ServerResponse, handle: FileHandle, start: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = handle.fd;
    let position = start;
    let remaining = length; // bytes not yet asked for
    let readInFlight = false;
    let ready: { buffer: Buffer; bytes: number } | undefined; // read, not yet written
    let waitingForDrain = false;
    let closed = false;
    let settled = false;
    let failure: Error | undefined;

    const settle = (): void => {
      if (settled || readInFlight) return;
      settled = true;
      sending--;
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (ready) recycle(ready.buffer);
      ready = undefined;
      if (failure) reject(failure);
      else resolve();
    };

    const read = (buffer: Buffer, from: number, want: number, filled: number): void => {
      fs.read(fd, buffer, filled, want - filled, from + filled, (error, bytesRead) => {
        if (!error && bytesRead > 0 && filled + bytesRead < want && !closed) {
          read(buffer, from, want, filled + bytesRead);
          return;
        }
        readInFlight = false;
        endRead();
        if (error || bytesRead === 0 || closed) {
          recycle(buffer);
          if (!closed) failure = error ?? new Error(`the file ended ${want - filled} bytes early`);
          settle();
          return;
        }
        ready = { buffer, bytes: want };
        pump();
      });
    };

    const startRead = (): void => {
      if (remaining === 0 || readInFlight || ready || closed || failure) return;
      const want = Math.min(SEND_CHUNK, remaining);
      const from = position;
      position += want;
      remaining -= want;
      readInFlight = true;
      takeForRead((buffer) => {
        if (closed) {
          readInFlight = false;
          endRead();
          recycle(buffer);
          settle();
          return;
        }
        read(buffer, from, want, 0);
      });
    };

    const pump = (): void => {
      if (closed || failure) {
        settle();
        return;
      }
      if (ready && !waitingForDrain) {
        const { buffer, bytes } = ready;
        ready = undefined;
        // Read-ahead (the next read overlapping this write) only while few responses send: with many, each
        // would hold a second chunk, and the others keep the CPU busy anyway.
        const ahead = sending <= AHEAD_LIMIT;
        if (ahead) startRead();
        // The callback runs once the socket has the bytes (or failed): only then may the buffer be reused.
        const flowing = res.write(bytes === buffer.length ? buffer : buffer.subarray(0, bytes), () => recycle(buffer));
        if (remaining === 0 && !readInFlight && !ready) {
          res.end();
          settle();
          return;
        }
        waitingForDrain = !flowing;
        if (flowing && !ahead) startRead();
        return;
      }
      if (!waitingForDrain) startRead();
    };

    function onDrain(): void {
      if (!waitingForDrain) return;
      waitingForDrain = false;
      pump();
    }
    // 'close' before the end means the client went away (an HTTP/2 compatibility response has no `destroyed`).
    function onClose(): void {
      closed = true;
      settle();
    }

    sending++;
    res.on('drain', onDrain);
    res.once('close', onClose);
    if (res.destroyed) {
      // Gone before the body began: its 'close' has already been emitted.
      closed = true;
      settle();
      return;
    }
    if (length === 0) {
      res.end();
      settle();
      return;
    }
    startRead();
  });
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
