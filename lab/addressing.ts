// IPv4 subnet arithmetic for lab links (the underlay; the tunnel's HIT/LSI addressing is the
// daemon's business).

export interface Ipv4Subnet {
  readonly network: number;
  readonly prefixLength: number;
}

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${text}`);
  let value = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!/^\d{1,3}$/.test(part) || octet > 255) throw new Error(`not an IPv4 address: ${text}`);
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function parseSubnet(cidr: string): Ipv4Subnet {
  const [address, length] = cidr.split('/');
  const prefixLength = Number(length);
  if (address === undefined || !Number.isInteger(prefixLength) || prefixLength < 8 || prefixLength > 30) {
    throw new Error(`lab subnets are IPv4 /8../30, got ${cidr}`);
  }
  const size = 2 ** (32 - prefixLength);
  const network = parseIpv4(address);
  if (network % size !== 0) throw new Error(`${cidr} has host bits set`);
  return { network, prefixLength };
}

/** The n-th host address (1-based) of a subnet. */
export function hostAddress(subnet: Ipv4Subnet, n: number): string {
  const size = 2 ** (32 - subnet.prefixLength);
  if (n < 1 || n >= size - 1) throw new Error(`host ${n} does not fit in a /${subnet.prefixLength}`);
  return formatIpv4(subnet.network + n);
}

export function formatSubnet(subnet: Ipv4Subnet): string {
  return `${formatIpv4(subnet.network)}/${subnet.prefixLength}`;
}

/** Link subnets handed out when a link does not name its own: 10.<n>.0.0/24. */
export function defaultLinkSubnet(linkIndex: number): Ipv4Subnet {
  if (linkIndex < 1 || linkIndex > 250) throw new Error(`too many lab links (${linkIndex})`);
  return { network: parseIpv4(`10.${linkIndex}.0.0`), prefixLength: 24 };
}

/** The subnet (CIDR text) an address with this prefix length belongs to. */
export function subnetOf(address: string, prefixLength: number): string {
  const size = 2 ** (32 - prefixLength);
  return formatSubnet({ network: Math.floor(parseIpv4(address) / size) * size, prefixLength });
}
