// Which addresses an outbound webhook may reach (SSRF). By default nothing private,
// loopback, link-local, multicast or otherwise special; HERALD_WEBHOOK_ALLOW_HOSTS names the
// exceptions. A URL's host is resolved once, every resolved address is checked, and the
// connection is pinned to the checked address (see sender.ts), so a second DNS answer cannot
// swap it for another one (DNS rebinding).
//
// An IP or CIDR entry exempts URLs that name such an address literally; a host-name entry
// exempts that name, whatever it resolves to. A name that is not listed is never let through
// to a private address: its DNS is the tenant's to point anywhere, including at the address
// the operator exempted for a different purpose.
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { HeraldError } from '../protocol/index.ts';

/** Ranges no webhook reaches unless allowed (IANA special-purpose registries). */
const SPECIAL_V4 = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const;
const SPECIAL_V6 = [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const;

const special = new BlockList();
for (const [net, prefix] of SPECIAL_V4) special.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of SPECIAL_V6) special.addSubnet(net, prefix, 'ipv6');
// IPv4-mapped and -compatible IPv6 forms reach IPv4 hosts: refused whatever they embed. A list
// of its own, checked for IPv6 only: BlockList matches IPv4 addresses against mapped rules.
const embedded = new BlockList();
embedded.addSubnet('::ffff:0:0', 96, 'ipv6');
embedded.addSubnet('::', 96, 'ipv6');

export type Resolver = (host: string) => Promise<{ address: string; family: 4 | 6 }[]>;

export const systemResolver: Resolver = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

function normalize(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export function isSpecialAddress(address: string): boolean {
  const n = normalize(address);
  return special.check(n.address, n.type) || (n.type === 'ipv6' && embedded.check(n.address, 'ipv6'));
}

export interface Target {
  url: URL;
  /** The host name to send in Host / SNI. */
  hostname: string;
  /** The checked address the connection must use. */
  address: string;
  family: 4 | 6;
}

export class AddressPolicy {
  private readonly allowedNets = new BlockList();
  private readonly allowedNames = new Set<string>();

  constructor(
    allowHosts: readonly string[],
    private readonly resolve: Resolver = systemResolver,
  ) {
    for (const entry of allowHosts) {
      const [net, prefix] = entry.split('/');
      const v = isIP(net.replace(/^\[|\]$/g, ''));
      if (v === 0) {
        if (prefix !== undefined) throw new Error(`HERALD_WEBHOOK_ALLOW_HOSTS: bad CIDR "${entry}"`);
        this.allowedNames.add(entry.toLowerCase());
        continue;
      }
      const n = normalize(net.replace(/^\[|\]$/g, ''));
      const bits = prefix === undefined ? (n.type === 'ipv4' ? 32 : 128) : Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > (n.type === 'ipv4' ? 32 : 128))
        throw new Error(`HERALD_WEBHOOK_ALLOW_HOSTS: bad CIDR "${entry}"`);
      this.allowedNets.addSubnet(n.address, bits, n.type);
    }
  }

  /**
   * Resolves and checks a webhook URL; the result says where to connect. Throws
   * WEBHOOK_URL_REFUSED for a bad scheme, credentials in the URL, a name that does not
   * resolve, or any resolved address that is special and not allowed.
   */
  async check(raw: string): Promise<Target> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw refused('The webhook URL is not a valid URL.');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw refused('Only http(s) URLs are allowed.');
    if (url.username || url.password) throw refused('The webhook URL must not carry credentials.');
    const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (isIP(hostname)) {
      const n = normalize(hostname);
      if (isSpecialAddress(hostname) && !this.allowedNets.check(n.address, n.type))
        throw refused(`${hostname} is a private, loopback or link-local address.`);
      return { url, hostname, address: hostname, family: isIP(hostname) === 6 ? 6 : 4 };
    }
    let addresses: { address: string; family: 4 | 6 }[];
    try {
      addresses = await this.resolve(hostname);
    } catch {
      throw refused(`${hostname} does not resolve.`);
    }
    if (addresses.length === 0) throw refused(`${hostname} does not resolve.`);
    if (!this.allowedNames.has(hostname)) {
      const bad = addresses.find((a) => isSpecialAddress(a.address));
      if (bad)
        throw refused(`${hostname} resolves to ${bad.address}, a private, loopback or link-local address.`);
    }
    return { url, hostname, address: addresses[0].address, family: addresses[0].family };
  }
}

function refused(message: string): HeraldError {
  return new HeraldError('WEBHOOK_URL_REFUSED', message);
}
