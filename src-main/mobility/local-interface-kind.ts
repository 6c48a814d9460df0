// What kind of uplink an interface is, and whether it may carry locators at all. Pure: the
// platform edge gathers the facts (name, rtnetlink link kind and type, sysfs DEVTYPE,
// systeminformation's wired/wireless/virtual) and this decides.
//
// Names come first because they are what users and lab setups control (a veth called wifi0 is the
// Wi-Fi uplink of a test host; a USB-tethered phone's usb0 is cellular whatever its driver says);
// driver metadata only decides for names that say nothing.

import type { InterfaceKind } from '../../src-shared/vocabulary.js';

/** The kinds an interface is classified as and ranked by, in default order; 'other' is never ranked. */
export const RANKED_KINDS: readonly InterfaceKind[] = ['ethernet', 'wifi', 'cellular', 'virtual'];

/** What the OS tells us about one interface. Every field but the name is optional. */
export interface InterfaceFacts {
  readonly ifname: string;
  /** rtnetlink IFLA_INFO_KIND (`ip -d link`): veth, tun, wireguard, bridge, vlan, ... */
  readonly linkKind?: string;
  /** rtnetlink link type (`ip link` link_type): ether, none, ppp, loopback, ... */
  readonly linkType?: string;
  /** sysfs uevent DEVTYPE: wlan, wwan, bridge, vlan, ... */
  readonly devtype?: string;
  /** The driver reports a wireless (802.11) device (sysfs or systeminformation). */
  readonly wireless?: boolean;
  /** systeminformation's guess that the NIC is virtual (hypervisor MAC prefixes and the like). */
  readonly virtual?: boolean;
}

export interface InterfaceClassPolicy {
  /**
   * Name patterns ("veth*", "eth1") whose interfaces never carry locators, on top of the built-in
   * tunnel and container patterns.
   */
  readonly exclude: readonly string[];
  /** Our own TUN device(s): never a locator, whatever their kind or name. */
  readonly ownTunnels: readonly string[];
  /** Name pattern → kind, for uplinks whose names say nothing ("modem*": "cellular"). */
  readonly kinds: Readonly<Record<string, InterfaceKind>>;
}

export type InterfaceClass =
  | { readonly usable: true; readonly kind: InterfaceKind }
  | { readonly usable: false; readonly reason: string };

// Tunnels carry other traffic inside them: a locator on one would route HIP through another
// VPN (or through ourselves). Container and hypervisor bridges face guests, never the Internet.
const EXCLUDED_NAME_PREFIXES = [
  'tun', 'tap', 'wg', 'utun', 'ipsec', 'vti', 'gre', 'sit', 'ip6tnl', 'ipip', 'ip6gre', 'erspan',
  'tailscale', 'zt', 'nordlynx', 'docker', 'br-', 'virbr', 'vboxnet', 'vmnet', 'lxcbr', 'cni', 'flannel',
];
const EXCLUDED_LINK_KINDS = new Set([
  'tun', 'wireguard', 'ipip', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'sit', 'ip6tnl', 'vti', 'vti6',
  'xfrm', 'erspan', 'ip6erspan', 'geneve', 'vxlan', 'bareudp', 'amt',
]);
const CELLULAR_NAME_PREFIXES = ['wwan', 'wwp', 'wwx', 'ppp', 'usb', 'rmnet', 'ccmni', 'pdp', 'qmimux', 'mhi', 'rndis', 'cell'];
const WIFI_NAME_PREFIXES = ['wl', 'wifi', 'ath'];
const ETHERNET_NAME_PREFIXES = ['eth', 'en', 'em', 'lan'];

export function classifyInterface(facts: InterfaceFacts, policy: InterfaceClassPolicy): InterfaceClass {
  const name = facts.ifname;
  if (policy.ownTunnels.includes(name)) return { usable: false, reason: 'our own tunnel device' };
  if (facts.linkType === 'loopback' || name === 'lo') return { usable: false, reason: 'loopback' };
  for (const pattern of policy.exclude) {
    if (matchesPattern(name, pattern)) return { usable: false, reason: `excluded by policy (${pattern})` };
  }
  for (const [pattern, kind] of Object.entries(policy.kinds)) {
    if (matchesPattern(name, pattern)) return { usable: true, kind };
  }
  if (facts.linkKind !== undefined && EXCLUDED_LINK_KINDS.has(facts.linkKind)) {
    return { usable: false, reason: `tunnel device (${facts.linkKind})` };
  }
  const excludedPrefix = EXCLUDED_NAME_PREFIXES.find((prefix) => name.startsWith(prefix));
  if (excludedPrefix !== undefined) return { usable: false, reason: `tunnel or container interface (${excludedPrefix}*)` };

  if (CELLULAR_NAME_PREFIXES.some((prefix) => name.startsWith(prefix))) return { usable: true, kind: 'cellular' };
  if (WIFI_NAME_PREFIXES.some((prefix) => name.startsWith(prefix))) return { usable: true, kind: 'wifi' };
  if (ETHERNET_NAME_PREFIXES.some((prefix) => name.startsWith(prefix))) return { usable: true, kind: 'ethernet' };

  if (facts.devtype === 'wwan' || facts.linkType === 'ppp') return { usable: true, kind: 'cellular' };
  if (facts.devtype === 'wlan' || facts.wireless === true) return { usable: true, kind: 'wifi' };
  if (facts.linkKind !== undefined || facts.virtual === true || (facts.devtype !== undefined && facts.devtype !== 'ethernet')) {
    return { usable: true, kind: 'virtual' };
  }
  if (facts.linkType === 'ether') return { usable: true, kind: 'ethernet' };
  return { usable: true, kind: 'virtual' };
}

/** Interface-name patterns: exact names, or a prefix followed by one trailing "*". */
export function matchesPattern(name: string, pattern: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

/**
 * A complete best-first order of kinds from a user's (possibly partial) order: kinds the user did
 * not list keep their default order after the listed ones.
 */
export function completePreference(preferred: readonly InterfaceKind[]): InterfaceKind[] {
  const order: InterfaceKind[] = [];
  for (const kind of [...preferred, ...RANKED_KINDS]) if (!order.includes(kind)) order.push(kind);
  return order;
}
