/**
 * Closed-loop load for a fixed duration: `connections` workers, each on its own keep-alive TCP connection,
 * sending one request after another. Requests completing during the warm-up are not counted; throughput
 * and latency come from the requests that end inside the measured window, which opens once the warm-up
 * time has passed and every connection has had its first answer (or at the latest after twice the
 * measured duration more).
 *
 * The client is a minimal HTTP/1.1 speaker on raw sockets (a pre-built request, a response parser that
 * only reads the status line and Content-Length): with two cores, node:http's client would spend more
 * CPU per request than the servers it measures. It refuses chunked responses (neither registry sends
 * them for manifests) rather than misreading them.
 */
import net from 'node:net';

export interface LoadOptions {
  url: string;
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  connections: number;
  durationMs: number;
  warmupMs: number;
  expectStatus: number;
  /** Answers the window must hold: it is stretched (up to ten times its duration) until it has them; default 50. */
  minSamples?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  errors: number;
  /** The first unexpected status or failure, for the report. */
  firstError?: string;
}

export function percentile(sorted: Float64Array | number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection that sends the same request again and again. */
class RawConnection {
  private socket: net.Socket | undefined;
  private pending: { resolve: (status: number) => void; reject: (error: Error) => void } | undefined;
  private head: Buffer | undefined;
  private bodyLeft = 0;
  private status = 0;
  private mustClose = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
    private readonly isHead: boolean,
  ) {}

  private connect(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = (error: Error): void => {
      if (this.socket !== socket) return; // an old connection, already replaced
      this.socket = undefined;
      const pending = this.pending;
      this.pending = undefined;
      pending?.reject(error);
    };
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('connection closed by the server')));
    return socket;
  }

  send(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.head = undefined;
      this.bodyLeft = -1;
      this.socket ??= this.connect();
      this.socket.write(this.request);
    });
  }

  private onData(chunk: Buffer): void {
    if (this.bodyLeft < 0) {
      const head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      const end = head.indexOf(HEADER_END);
      if (end < 0) {
        this.head = head;
        return;
      }
      const text = head.toString('latin1', 0, end);
      this.status = Number(text.slice(9, 12));
      if (/\r\ntransfer-encoding:\s*chunked/i.test(text)) {
        this.finish(new Error('chunked response: not supported by the load generator'));
        return;
      }
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(text);
      this.mustClose = /\r\nconnection:\s*close/i.test(text);
      this.bodyLeft = this.isHead || this.status === 204 || this.status === 304 ? 0 : Number(length?.[1] ?? 0);
      this.head = undefined;
      chunk = head.subarray(end + 4);
    }
    this.bodyLeft -= chunk.length;
    if (this.bodyLeft <= 0) this.finish();
  }

  private finish(error?: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    if (error || this.mustClose) {
      const socket = this.socket;
      this.socket = undefined;
      socket?.destroy();
    }
    if (error) pending?.reject(error);
    else pending?.resolve(this.status);
  }

  /** Closes the connection; a request in flight rejects. */
  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    const pending = this.pending;
    this.pending = undefined;
    socket?.destroy();
    pending?.reject(new Error('closed at the end of the measurement'));
  }
}

export async function closedLoop(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.url);
  const lines = [`${options.method} ${target.pathname}${target.search} HTTP/1.1`, `Host: ${target.host}`, 'Connection: keep-alive'];
  for (const [name, value] of Object.entries(options.headers)) lines.push(`${name}: ${value}`);
  const request = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');

  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  // The measured window opens after the warm-up time once every connection has had an answer (with
  // hundreds of connections, a busy server can take longer than the warm-up to answer them all), but no
  // later than twice the measured duration after the warm-up.
  let measureFrom = Number.POSITIVE_INFINITY;
  let end = Number.POSITIVE_INFINITY;
  let answered = 0;
  const latest = start + options.warmupMs + 2 * options.durationMs;
  const opened = (now: number): void => {
    if (measureFrom !== Number.POSITIVE_INFINITY) return;
    if ((answered >= options.connections && now >= start + options.warmupMs) || now >= latest) {
      measureFrom = now;
      end = now + options.durationMs;
    }
  };
  // Requests still in flight when the window closes cannot count: close their connections rather than
  // wait for them (with hundreds of connections to a slow server, that wait is seconds).
  const connections: RawConnection[] = [];
  // A window with too few answers (a slow server, a short quick-mode window) is stretched, up to ten times.
  const minSamples = options.minSamples ?? 50;
  const windowTimer = setInterval(() => {
    const now = performance.now();
    opened(now);
    if (now >= end - 10 && count < minSamples && now < measureFrom + 10 * options.durationMs) end = now + 20;
    else if (now >= end) {
      clearInterval(windowTimer);
      for (const connection of connections) connection.close();
    }
  }, 5);

  const worker = async (): Promise<void> => {
    const connection = new RawConnection(target.hostname, Number(target.port), request, options.method === 'HEAD');
    connections.push(connection);
    let first = true;
    try {
      while (performance.now() < end && errors <= 1000) {
        const sent = performance.now();
        let status: number;
        try {
          status = await connection.send();
        } catch (error) {
          if (performance.now() >= end) break; // closed at the end of the window
          errors++;
          firstError ??= `${options.method} ${options.url}: ${(error as Error).message}`;
          continue;
        }
        const done = performance.now();
        if (first) {
          first = false;
          answered++;
          opened(done);
        }
        if (status !== options.expectStatus) {
          errors++;
          firstError ??= `${options.method} ${options.url} answered ${status}, expected ${options.expectStatus}`;
        } else if (done >= measureFrom && done <= end) {
          if (count === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[count++] = done - sent;
        }
      }
    } finally {
      connection.close();
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  clearInterval(windowTimer);

  const window = Math.max(1, Math.min(end, performance.now()) - measureFrom) / 1000;
  const sorted = latencies.subarray(0, count).sort();
  return {
    requestsPerSecond: count / window,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    completed: count,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
  };
}
