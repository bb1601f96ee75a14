/**
 * Where webhooks created through the admin API may send: not to loopback, link-local (which holds the cloud
 * metadata services, 169.254.169.254 and fd00:ec2::254), unspecified or multicast addresses, unless the
 * operator allows a range (notifications.webhooks.allow); plus any range the operator denies. Checked on
 * the literal address, on every address a name resolves to (at connect time, so a name cannot change its
 * answer in between), and on every redirect. Endpoints in config.yml are the operator's own and are not
 * checked.
 */
import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';

const DENIED_BY_DEFAULT: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['100.100.100.200', 32, 'ipv4'], // Alibaba Cloud metadata
  ['224.0.0.0', 4, 'ipv4'],
  ['255.255.255.255', 32, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['fd00:ec2::254', 128, 'ipv6'], // AWS metadata over IPv6
  ['ff00::', 8, 'ipv6'],
];

export class OutboundDenied extends Error {}

export class OutboundPolicy {
  private readonly denied = new BlockList();
  private readonly allowed = new BlockList();

  /** `allow` and `deny`: CIDR ranges or single addresses (`10.0.0.0/8`, `127.0.0.2`, `fd00::/8`). */
  constructor(options: { allow?: string[]; deny?: string[] } = {}) {
    for (const [net, prefix, type] of DENIED_BY_DEFAULT) this.denied.addSubnet(net, prefix, type);
    for (const range of options.deny ?? []) addRange(this.denied, range);
    for (const range of options.allow ?? []) addRange(this.allowed, range);
  }

  /** Why the address may not be contacted, or undefined when it may. */
  refusal(address: string): string | undefined {
    const plain = address.replace(/^\[|\]$/g, '');
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain)?.[1];
    const ip = mapped ?? plain;
    const type = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    if (isIP(ip) === 0) return `${address} is not an IP address`;
    if (this.allowed.check(ip, type)) return undefined;
    if (this.denied.check(ip, type)) return `address ${ip} is not allowed for webhooks (loopback, link-local, metadata or denied range)`;
    return undefined;
  }

  /** Checks a URL's host when it is a literal address; names are checked when they resolve. */
  checkUrl(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundDenied(`only http and https URLs are allowed, not ${url.protocol}`);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const why = this.refusal(host);
      if (why) throw new OutboundDenied(why);
    }
  }

  /** Resolves the URL's host and checks every address (for refusing a webhook when it is created). */
  async checkResolved(url: URL): Promise<void> {
    this.checkUrl(url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) return;
    const addresses = await new Promise<Array<{ address: string }>>((resolve, reject) =>
      dnsLookup(host, { all: true }, (err, list) => (err ? reject(new OutboundDenied(`cannot resolve ${host}: ${err.code ?? err.message}`)) : resolve(list))),
    );
    for (const { address } of addresses) {
      const why = this.refusal(address);
      if (why) throw new OutboundDenied(`${host} resolves to ${address}: ${why}`);
    }
  }

  /** A DNS lookup for node:http that refuses denied answers at connect time. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as unknown as Array<{ address: string; family: number }>;
      for (const { address } of list) {
        const why = this.refusal(address);
        if (why) return callback(new OutboundDenied(`${hostname} resolves to ${address}: ${why}`) as NodeJS.ErrnoException, '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

function addRange(list: BlockList, range: string): void {
  const [net, bits] = range.trim().split('/');
  const type = isIP(net ?? '') === 6 ? 'ipv6' : isIP(net ?? '') === 4 ? 'ipv4' : undefined;
  if (!type) throw new Error(`not an address or CIDR range: ${JSON.stringify(range)}`);
  if (bits === undefined) list.addAddress(net!, type);
  else list.addSubnet(net!, Number(bits), type);
}
