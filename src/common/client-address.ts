import type { IncomingMessage } from 'node:http';
import { isIP, SocketAddress } from 'node:net';
import proxyaddr from 'proxy-addr';

/** TRUST_PROXY compiled: whether the hop at `index` (0: the socket peer) is a trusted proxy. */
export type TrustProxyFn = (address: string, index: number) => boolean;

/** TRUST_PROXY compiled with proxy-addr, as Express compiles its `trust proxy` setting from the same value. */
export function compileTrust(value: boolean | number | string): TrustProxyFn {
  if (value === true) return () => true;
  if (value === false) return () => false;
  if (typeof value === 'number') return (_address, hop) => hop < value;
  return proxyaddr.compile(value.split(',').map((part) => part.trim()));
}

/** The address without its IPv4-mapped IPv6 prefix: `::ffff:192.0.2.1` is written `192.0.2.1`. */
export function normalizeIp(address: string | undefined): string {
  if (!address) return '';
  return address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && address.includes('.')
    ? address.slice(7)
    : address;
}

/**
 * The client's address: the socket peer, or through trusted proxies the X-Forwarded-For hop proxy-addr picks, as
 * Express's `req.ip` does; but only hops that are IP addresses count. A proxy passes on whatever it received, so at
 * the first hop that is not an address (markup, a `host:port`, 8,000 characters, a zone index) the client is the hop
 * before it,
 * the last one known, as when that hop is not trusted.
 */
export function clientAddress(req: IncomingMessage, trust: TrustProxyFn): string {
  // The socket peer first, then the hops nearest first, up to the first one not trusted.
  const hops = proxyaddr.all(req, trust);
  let address = hops[0];
  for (let i = 1; i < hops.length && isForwardedAddress(hops[i]); i++) address = hops[i];
  return normalizeIp(address);
}

/** `clientAddress()` with TRUST_PROXY compiled once. */
export function clientAddressResolver(trustProxy: boolean | number | string): (req: IncomingMessage) => string {
  const trust = compileTrust(trustProxy);
  return (req) => clientAddress(req, trust);
}

/** An IP address without zone index: a zone (`fe80::1%eth0`) means nothing past its link, and has no length bound. */
function isForwardedAddress(hop: string): boolean {
  return isIP(hop) !== 0 && !hop.includes('%');
}

/** The eight 16-bit groups of a valid IPv6 address (a zone index ignored). */
function ipv6Groups(address: string): number[] {
  const zone = address.indexOf('%');
  const text = zone < 0 ? address : address.slice(0, zone);
  const groups = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((piece) => {
          if (!piece.includes('.')) return [parseInt(piece, 16)];
          const [a, b, c, d] = piece.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const gap = text.indexOf('::');
  if (gap < 0) return groups(text);
  const head = groups(text.slice(0, gap));
  const tail = groups(text.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * The network of an address, for ANONYMIZE_USER_IP: IPv4 /24 (`203.0.113.0`), IPv6 /48 in canonical form
 * (`2001:db8:1234::`); an IPv4-mapped IPv6 address counts as IPv4. Anything else (no address) is returned as is.
 */
export function networkOf(address: string): string {
  const family = isIP(address);
  if (family === 4) return `${address.slice(0, address.lastIndexOf('.'))}.0`;
  if (family !== 6) return address;
  const g = ipv6Groups(address);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.0`;
  }
  // Node writes it canonically (RFC 5952: lower case, the longest run of zero groups as `::`).
  return new SocketAddress({
    address: `${g[0].toString(16)}:${g[1].toString(16)}:${g[2].toString(16)}::`,
    family: 'ipv6',
  }).address;
}

/** The address as the stream and the logs show it: its network when ANONYMIZE_USER_IP is set. */
export function shownAddress(address: string, anonymize: boolean): string {
  return anonymize ? networkOf(address) : address;
}

/**
 * What per-address limits count an address as: an IPv4 address as it is, an IPv6 address by its /64 (one host may
 * hold a whole /64), an IPv4-mapped one as IPv4.
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const g = ipv6Groups(address);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.${g[7] & 0xff}`;
  }
  return `${g
    .slice(0, 4)
    .map((n) => n.toString(16))
    .join(':')}::/64`;
}
