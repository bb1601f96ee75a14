/**
 * A trivial server run as its own process (`node --import tsx bench/trivial-server.ts PORT`), to measure the
 * load generator's ceiling and loopback TCP throughput in the same conditions as the registries (another
 * process, the other core):
 * - HTTP on PORT: GET /v2/ → 200; GET/HEAD …/manifests/… → a fixed 529-byte manifest with registry-like
 *   headers; GET /blob/<bytes> → that many bytes; POST/PATCH/PUT → reads the body, answers 202/201.
 * - raw TCP on the port GET /tcp answers with: a 9-byte header ('U' or 'D', then a 64-bit length); for 'U'
 *   the server reads that many bytes then writes one byte back; for 'D' it writes that many bytes and ends.
 */
import http from 'node:http';
import net from 'node:net';

const port = Number(process.argv[2]);
const SLAB = Buffer.alloc(1024 * 1024, 0x5a);
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 412 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${'b'.repeat(64)}`, size: 4096 }],
    annotations: { 'org.opencontainers.image.title': 'a trivial manifest of the usual size'.padEnd(120, '.') },
  }),
);
const MANIFEST_HEADERS = {
  'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
  'Content-Length': MANIFEST.length,
  'Docker-Content-Digest': `sha256:${'c'.repeat(64)}`,
  ETag: `"sha256:${'c'.repeat(64)}"`,
  'Docker-Distribution-API-Version': 'registry/2.0',
};

function sendBytes(res: http.ServerResponse | net.Socket, total: number, done: () => void): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const part = left >= SLAB.length ? SLAB : SLAB.subarray(0, left);
      left -= part.length;
      if (!res.write(part)) {
        res.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

let tcpPort = 0;
const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      const status = req.method === 'PUT' ? 201 : 202;
      res.writeHead(status, { Location: '/v2/trivial/blobs/uploads/0', Range: `0-${Math.max(0, bytes - 1)}`, 'Content-Length': 0 });
      res.end();
    });
    return;
  }
  if (url === '/v2/' || url === '/v2') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 });
    res.end('{}');
  } else if (url === '/tcp') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(String(tcpPort));
  } else if (url.includes('/manifests/')) {
    res.writeHead(200, MANIFEST_HEADERS);
    res.end(req.method === 'HEAD' ? undefined : MANIFEST);
  } else if (url.startsWith('/blob/')) {
    const size = Number(url.slice('/blob/'.length));
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    sendBytes(res, size, () => res.end());
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
});

const raw = net.createServer((socket) => {
  let header = Buffer.alloc(0);
  let left = -1;
  socket.on('data', (chunk: Buffer) => {
    if (left < 0) {
      header = Buffer.concat([header, chunk]);
      if (header.length < 9) return;
      const mode = String.fromCharCode(header[0]!);
      const size = Number(header.readBigUInt64BE(1));
      const rest = header.subarray(9);
      if (mode === 'D') {
        left = 0;
        sendBytes(socket, size, () => socket.end());
        return;
      }
      left = size;
      chunk = rest;
    }
    left -= chunk.length;
    if (left === 0) socket.end(Buffer.from('K'));
  });
  socket.on('error', () => socket.destroy());
});

raw.listen(0, '127.0.0.1', () => {
  const address = raw.address();
  tcpPort = typeof address === 'object' && address !== null ? address.port : 0;
  server.listen(port, '127.0.0.1');
});
process.once('SIGTERM', () => process.exit(0));
