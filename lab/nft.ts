// nftables rulesets the lab loads into a host's namespace. Each feature lives in a table of its
// own, so switching one (loss on wifi0) never disturbs another (NAT on the router).

export type Direction = 'ingress' | 'egress' | 'both';

function identifier(text: string): string {
  return text.replace(/[^A-Za-z0-9_]/g, '_');
}

/** A script that replaces table `family name` with `body` (or removes it when body is null). */
function replaceTable(family: string, name: string, body: string | null): string {
  // `add` first makes the `delete` safe when the table does not exist yet (nft 1.0.6 has no
  // `destroy`); the whole script is one transaction.
  const lines = [`add table ${family} ${name}`, `delete table ${family} ${name}`];
  if (body !== null) lines.push(`table ${family} ${name} {`, body, '}');
  return `${lines.join('\n')}\n`;
}

// Only ingress hooks: a packet dropped on its sender's egress hook comes back to the sending
// socket as ENOBUFS (ping even retries it), which no real lossy or dead link does. Dropping at
// the receiving end is invisible to both hosts.
function ingressChain(ifname: string, rule: string): string {
  return [
    '  chain ingress {',
    `    type filter hook ingress device "${ifname}" priority 0;`,
    `    ${rule}`,
    '  }',
  ].join('\n');
}

export function lossTableName(ifname: string): string {
  return `lab_loss_${identifier(ifname)}`;
}

/** Random drop of `percent` % of the packets arriving on the device (each packet drawn alone). */
export function ingressLossRuleset(ifname: string, percent: number): string {
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    throw new Error(`loss must be a whole percentage 0..100, got ${percent}`);
  }
  const body = percent === 0 ? null : ingressChain(ifname, `numgen random mod 100 < ${percent} drop`);
  return replaceTable('netdev', lossTableName(ifname), body);
}

export function blackholeTableName(ifname: string): string {
  return `lab_blackhole_${identifier(ifname)}`;
}

/** Drop everything arriving on the device, which stays up with its address. */
export function ingressBlackholeRuleset(ifname: string, enabled: boolean): string {
  return replaceTable('netdev', blackholeTableName(ifname), enabled ? ingressChain(ifname, 'drop') : null);
}

export function oneWayBlockTableName(ifname: string): string {
  return `lab_oneway_${identifier(ifname)}`;
}

/**
 * Drop every IP packet arriving on the device; ARP still passes, so the neighbours stay
 * resolved and only the one direction of the IP path is dead, for as long as the test wants.
 * A table of its own: a one-way block and a silent cut of the same link are independent.
 */
export function ingressOneWayBlockRuleset(ifname: string, enabled: boolean): string {
  return replaceTable('netdev', oneWayBlockTableName(ifname), enabled ? ingressChain(ifname, 'meta protocol { ip, ip6 } drop') : null);
}

export function sourceValidationTableName(ifname: string): string {
  return `lab_bcp38_${identifier(ifname)}`;
}

/**
 * Ingress filtering as access networks do it (BCP 38): a router drops packets that arrive from a
 * customer link with a source address outside that link's subnet. A host that sends one uplink's
 * address out of another uplink is then cut off, as it would be in the field.
 */
export function sourceValidationRuleset(ifname: string, subnet: string, enabled: boolean): string {
  const body = [
    '  chain forward {',
    '    type filter hook forward priority 0;',
    `    iifname "${ifname}" ip saddr != ${subnet} counter drop`,
    '  }',
  ].join('\n');
  return replaceTable('inet', sourceValidationTableName(ifname), enabled ? body : null);
}

export interface MasqueradeOptions {
  /** Randomise the source port mapping (a NAT that does not preserve ports). */
  readonly fullyRandom?: boolean;
}

export function natTableName(ifname: string): string {
  return `lab_nat_${identifier(ifname)}`;
}

/** Source NAT of everything leaving through `ifname` to that interface's address. */
export function masqueradeRuleset(ifname: string, options: MasqueradeOptions, enabled: boolean): string {
  const body = [
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat;',
    `    oifname "${ifname}" masquerade${options.fullyRandom ? ' fully-random' : ''}`,
    '  }',
  ].join('\n');
  return replaceTable('ip', natTableName(ifname), enabled ? body : null);
}

export const HIP_WATCH_TABLE = 'lab_hip_watch';

/**
 * Counters, on a router's forward path, of HIP-over-UDP packets to and from one transport
 * address: control packets (the 32 zero bits of the non-ESP marker after the UDP header) and
 * ESP. Shows whether a host checked a new address with HIP before and while using it.
 */
export function hipWatchRuleset(address: string, port: number): string {
  const marker = '@th,64,32 0';
  const body = [
    '  counter hip_to { }',
    '  counter hip_from { }',
    '  counter esp_to { }',
    '  counter esp_from { }',
    '  chain forward {',
    '    type filter hook forward priority -10;',
    `    ip daddr ${address} udp dport ${port} ${marker} counter name "hip_to"`,
    `    ip daddr ${address} udp dport ${port} ${marker.replace(' 0', ' != 0')} counter name "esp_to"`,
    `    ip saddr ${address} udp sport ${port} ${marker} counter name "hip_from"`,
    `    ip saddr ${address} udp sport ${port} ${marker.replace(' 0', ' != 0')} counter name "esp_from"`,
    '  }',
  ].join('\n');
  return replaceTable('inet', HIP_WATCH_TABLE, body);
}

export const ADDRESS_WATCH_TABLE = 'lab_address_watch';

/**
 * Counters, on a host's own input and output, of every IPv4 packet it receives from and sends to
 * one address, whatever the protocol or port: what the host says to a stranger, by the kernel's
 * count rather than by the host's own report.
 */
export function addressWatchRuleset(address: string, table = ADDRESS_WATCH_TABLE): string {
  const body = [
    '  counter sent_to { }',
    '  counter received_from { }',
    '  chain output {',
    '    type filter hook output priority -10;',
    `    ip daddr ${address} counter name "sent_to"`,
    '  }',
    '  chain input {',
    '    type filter hook input priority -10;',
    `    ip saddr ${address} counter name "received_from"`,
    '  }',
  ].join('\n');
  return replaceTable('inet', table, body);
}

export const EGRESS_WATCH_TABLE = 'lab_egress_watch';

/**
 * A counter of every packet the host itself sends to `prefix` (output hook: what the host's own
 * sockets emit, not what it forwards): how much an attacker at those addresses gets back.
 */
export function egressWatchRuleset(prefix: string): string {
  const body = [
    '  counter sent { }',
    '  chain output {',
    '    type filter hook output priority 0;',
    `    ip daddr ${prefix} counter name "sent"`,
    '  }',
  ].join('\n');
  return replaceTable('inet', EGRESS_WATCH_TABLE, body);
}

export function natFilterTableName(ifname: string): string {
  return `lab_natfilter_${identifier(ifname)}`;
}

/**
 * What home routers and carrier NATs do with traffic from outside: only answers to what went out
 * get in (address- and port-dependent filtering, as conntrack keys on the whole 5-tuple);
 * anything unsolicited arriving on `wanIfname` is dropped silently and counted. An unmapped port
 * of the public address is the router's own, hence the input hook too: no ICMP comes back.
 */
export function natFilterRuleset(wanIfname: string, enabled: boolean): string {
  const chain = (hook: 'forward' | 'input'): string[] => [
    `  chain ${hook} {`,
    `    type filter hook ${hook} priority 0;`,
    `    iifname "${wanIfname}" ct state established,related accept`,
    // A port forward (portForwardRuleset) is the one thing from outside the router's owner asked for.
    ...(hook === 'forward' ? [`    iifname "${wanIfname}" ct status dnat accept`] : []),
    `    iifname "${wanIfname}" counter name "unsolicited" drop`,
    '  }',
  ];
  const body = ['  counter unsolicited { }', ...chain('forward'), ...chain('input')].join('\n');
  return replaceTable('inet', natFilterTableName(wanIfname), enabled ? body : null);
}

export function portForwardTableName(wanIfname: string, port: number): string {
  return `lab_forward_${identifier(wanIfname)}_${port}`;
}

/**
 * A UDP port forward as a home or office router's owner sets one up: datagrams arriving on
 * `wanIfname` for `port` go to `toAddress` on the same port, whoever sends them (destination NAT);
 * the answers leave from the router's address and that port.
 */
export function portForwardRuleset(wanIfname: string, port: number, toAddress: string, enabled: boolean): string {
  const body = [
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat;',
    `    iifname "${wanIfname}" udp dport ${port} dnat to ${toAddress}`,
    '  }',
  ].join('\n');
  return replaceTable('ip', portForwardTableName(wanIfname, port), enabled ? body : null);
}

export function refusalTableName(): string {
  return 'lab_refuse_forward';
}

/**
 * A router that stops forwarding, both ways: 'reject' answers each packet with an ICMP
 * destination unreachable (host unreachable) to its sender, 'drop' says nothing (ICMP filtered),
 * null forwards again. Errors the router itself sends are not forwarded, so they get out.
 */
export function forwardRefusalRuleset(how: 'reject' | 'drop' | null): string {
  const verdict = how === 'reject' ? 'reject with icmpx type host-unreachable' : 'drop';
  const body = how === null ? null : ['  chain forward {', '    type filter hook forward priority -10;', `    meta nfproto { ipv4, ipv6 } ${verdict}`, '  }'].join('\n');
  return replaceTable('inet', refusalTableName(), body);
}
