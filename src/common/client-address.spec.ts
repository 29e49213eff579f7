import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { addressKey, clientAddress, networkOf, normalizeIp } from './client-address.js';

function req(peer: string | undefined, forwardedFor?: string): IncomingMessage {
  return {
    socket: { remoteAddress: peer },
    headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  } as unknown as IncomingMessage;
}

const LOCAL = proxyaddr.compile(['loopback', 'linklocal', 'uniquelocal']);
const ALL = () => true;
const NONE = () => false;

describe('clientAddress', () => {
  it.each([
    ['the socket peer without proxies', NONE, '127.0.0.1', '1.2.3.4', '127.0.0.1'],
    ['the first untrusted hop', LOCAL, '127.0.0.1', '1.2.3.4, 10.0.0.7', '1.2.3.4'],
    ['the peer when the nearest hop is junk', LOCAL, '127.0.0.1', '1.2.3.4, junk', '127.0.0.1'],
    ['the trusted proxy before junk', LOCAL, '127.0.0.1', 'junk, 10.0.0.7', '10.0.0.7'],
    ['the peer for a hop with a port', LOCAL, '127.0.0.1', '6.6.6.6:1234', '127.0.0.1'],
    ['the peer for [v6]:port', LOCAL, '127.0.0.1', '[2001:db8::1]:443', '127.0.0.1'],
    ['the peer for a hop with a zone index', LOCAL, '127.0.0.1', 'fe80::1%eth0', '127.0.0.1'],
    ['the leftmost hop when all are trusted', ALL, '127.0.0.1', '5.6.7.8, 10.0.0.7', '5.6.7.8'],
    ['the hop before junk when all are trusted', ALL, '127.0.0.1', '5.6.7.8, x, 10.0.0.7', '10.0.0.7'],
    ['an IPv4-mapped peer as IPv4', NONE, '::ffff:192.0.2.1', undefined, '192.0.2.1'],
    ['no peer (socket gone)', LOCAL, undefined, undefined, ''],
  ])('%s', (_name, trust, peer, forwardedFor, expected) => {
    expect(clientAddress(req(peer, forwardedFor), trust)).toBe(expected);
  });
});

describe('normalizeIp', () => {
  it('writes IPv4-mapped addresses as IPv4, in any case, and leaves the others', () => {
    expect(normalizeIp('::ffff:1.2.3.4')).toBe('1.2.3.4');
    expect(normalizeIp('::FFFF:1.2.3.4')).toBe('1.2.3.4');
    expect(normalizeIp('::ffff:abcd')).toBe('::ffff:abcd');
    expect(normalizeIp('2001:db8::1')).toBe('2001:db8::1');
    expect(normalizeIp(undefined)).toBe('');
  });
});

describe('networkOf', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0'],
    ['10.0.0.255', '10.0.0.0'],
    ['2001:db8:1234:5678::1', '2001:db8:1234::'],
    ['2001:DB8:1234:ffff:ffff:ffff:ffff:ffff', '2001:db8:1234::'],
    ['2001:0db8:0000:0001::', '2001:db8::'],
    ['2001:0:5::1', '2001:0:5::'],
    ['::1', '::'],
    ['fe80::1%eth0', 'fe80::'],
    ['::ffff:198.51.100.23', '198.51.100.0'],
    ['::ffff:c633:6417', '198.51.100.0'],
    ['64:ff9b::192.0.2.33', '64:ff9b::'],
    ['', ''],
  ])('%s -> %s', (address, network) => {
    expect(networkOf(address)).toBe(network);
  });
});

describe('addressKey', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:bbbb:cccc:dddd:eeee', '2001:db8:1:2::/64'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::1', '0:0:0:0::/64'],
    ['', ''],
  ])('%s -> %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});
