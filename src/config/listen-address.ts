/** Parses a listen address the way the reference registry's `http.addr` is written: `:5000`, `host:port`, `[::1]:5000`. */
export interface ListenAddress {
  host?: string;
  port: number;
}

export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new Error(`invalid listen address ${JSON.stringify(text)}: expected host:port or :port`);
  const host = match[1] ?? match[2];
  return host ? { host, port } : { port };
}
