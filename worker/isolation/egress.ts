import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** worker.http_egress */
export interface EgressSettings {
  allow: string[];
  allow_private_networks: boolean;
}

/** Denied unless allowed: loopback, link-local (cloud metadata at 169.254.169.254, fd00:ec2::254), unspecified, multicast. */
const ALWAYS_DENIED: Array<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local (cloud metadata)'],
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['ff00::', 8, 'ipv6', 'multicast'],
  ['fd00:ec2::254', 128, 'ipv6', 'cloud metadata'],
];

/** Denied unless worker.http_egress.allow_private_networks (or listed in allow). */
const PRIVATE: Array<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared (carrier-grade NAT)'],
  ['fc00::', 7, 'ipv6', 'private (unique local)'],
];

/** One allow-list entry: an address or a CIDR range; anything else is a configuration error naming it. */
function addAllowed(list: BlockList, entry: string): void {
  const [address = '', bits] = entry.trim().split('/');
  const family = isIP(address);
  if (family === 0) throw new Error(`worker.http_egress.allow: "${entry}" is not an IP address or CIDR range (like 10.1.0.0/16 or ::1)`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (bits === undefined) return list.addAddress(address, type);
  const prefix = Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
    throw new Error(`worker.http_egress.allow: "${entry}" has an invalid prefix length`);
  }
  list.addSubnet(address, prefix, type);
}

/** ::ffff:127.0.0.1 is 127.0.0.1: an IPv4-mapped address is judged as the IPv4 address it is. */
function normalise(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const bare = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped?.[1]) return { address: mapped[1], type: 'ipv4' };
  // the URL parser writes ::ffff:127.0.0.1 as ::ffff:7f00:1
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(bare);
  if (hex?.[1] && hex[2]) {
    const [high, low] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
    return { address: `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, type: 'ipv4' };
  }
  return { address: bare, type: isIP(bare) === 6 ? 'ipv6' : 'ipv4' };
}

/**
 * Where http tasks may connect (issue 13 item 8). Every address a request would reach is checked: IP
 * literals in the URL and in each redirect, and every address a host name resolves to; the connection
 * then goes to the address that was checked, so DNS cannot answer differently in between (rebinding).
 */
export class EgressPolicy {
  readonly #allowed = new BlockList();
  readonly #denied: Array<{ list: BlockList; what: string }> = [];

  constructor(settings: EgressSettings) {
    for (const entry of settings.allow) addAllowed(this.#allowed, entry);
    const ranges = settings.allow_private_networks ? ALWAYS_DENIED : [...ALWAYS_DENIED, ...PRIVATE];
    for (const [network, prefix, type, what] of ranges) {
      const list = new BlockList();
      if (prefix === (type === 'ipv4' ? 32 : 128)) list.addAddress(network, type);
      else list.addSubnet(network, prefix, type);
      this.#denied.push({ list, what });
    }
  }

  /** why the address may not be reached, or undefined when it may */
  refusal(address: string): string | undefined {
    const { address: ip, type } = normalise(address);
    if (this.#allowed.check(ip, type)) return undefined;
    const denied = this.#denied.find(({ list }) => list.check(ip, type));
    if (!denied) return undefined;
    return `egress to ${ip} (${denied.what}) is not allowed for http tasks; allow it in worker.http_egress`;
  }

  /**
   * A `lookup` for http.request: resolves the name once, refuses it when any of its addresses is denied
   * (a name answering both a public and a private address is refused), and hands the socket that address.
   */
  lookup(): LookupFunction {
    return ((hostname: string, options: { family?: number | string }, callback: (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void) => {
      dnsLookup(hostname, { all: true, family: typeof options.family === 'number' ? options.family : 0 }, (error, addresses) => {
        if (error) return callback(error, '', 4);
        for (const { address } of addresses) {
          const refused = this.refusal(address);
          if (refused) return callback(Object.assign(new Error(`${hostname} resolves to ${address}: ${refused}`), { code: 'HG_EGRESS_DENIED' }), '', 4);
        }
        const [first] = addresses;
        if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 4);
        if ((options as { all?: boolean }).all) return callback(null, [first]);
        callback(null, first.address, first.family);
      });
    }) as LookupFunction;
  }
}
