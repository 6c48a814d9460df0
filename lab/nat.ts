// The NAT lab: the networks our users actually sit behind, in network namespaces.
//
//                          internet (router; public addresses only)
//        ┌───────────┬────────────┼─────────────┬──────────────┐
//      relay       server       homea          homeb          cgnat
//    (public)     (public)   (home NAT)     (home NAT)    (carrier NAT)
//                                 │ lan0          │ lan0          │ lan0
//                           wifi0 │         eth0  │         cell0 │
//                               alice           bob           alice
//
// alice is the mobile host: Wi-Fi behind a home router, cellular behind the carrier's NAT. bob sits
// behind another home router on the same private subnet as alice's (192.168.1.0/24 in both homes,
// as in the field), so a private address learned from a peer is never reachable. Each NAT maps
// either port-preserving (`masquerade`: the source port is kept when free, the same mapping for
// every destination) or symmetric (`masquerade fully-random`: a random port per destination),
// lets in only answers to what went out, and forgets a mapping after `udpTimeoutS` of silence.

import type { Host } from './host.js';
import { Lab } from './lab.js';
import { natFilterTableName } from './nft.js';

export type NatKind = 'port-preserving' | 'symmetric';

export interface NatLabOptions {
  /** alice's home router. */
  readonly aliceHome?: NatKind;
  /** bob's home router. */
  readonly bobHome?: NatKind;
  /** The carrier NAT in front of alice's cell0 (carriers are mostly symmetric). */
  readonly carrier?: NatKind;
  /** Seconds a NAT keeps an idle UDP mapping (the kernel's default is 30 unanswered, 120 answered). */
  readonly udpTimeoutS?: number;
  readonly log?: (line: string) => void;
}

export interface NatRouter {
  readonly router: Host;
  readonly kind: NatKind;
  /** The one public address everything behind it appears from. */
  readonly publicAddress: string;
}

export interface NatLab {
  readonly lab: Lab;
  readonly internet: Host;
  /** A public host for the relay and rendezvous server (port 10500 and anything else). */
  readonly relay: Host;
  /** A public host with no NAT: a correspondent reachable at its own address. */
  readonly server: Host;
  /** The mobile host: wifi0 behind `aliceHome`, cell0 behind `carrier`. */
  readonly alice: Host;
  /** eth0 behind `bobHome`. */
  readonly bob: Host;
  readonly aliceHome: NatRouter;
  readonly bobHome: NatRouter;
  readonly carrier: NatRouter;
}

export const HOME_SUBNET = '192.168.1.0/24';
export const CARRIER_SUBNET = '100.64.0.0/24';
export const DEFAULT_UDP_TIMEOUT_S = 30;

/** Policy-routing tables for the uplinks of a multihomed host, one per interface. */
const UPLINK_TABLE_BASE = 100;

export async function buildNatLab(options: NatLabOptions = {}): Promise<NatLab> {
  const lab = await Lab.create({ log: options.log });
  try {
    const internet = await lab.addRouter('internet');
    const relay = await lab.addHost('relay');
    const server = await lab.addHost('server');
    await lab.connect(relay, internet, { name: 'eth0', peerName: 'to_relay', subnet: '203.0.113.0/30' });
    await lab.connect(server, internet, { name: 'eth0', peerName: 'to_server', subnet: '203.0.113.4/30' });

    const udpTimeoutS = options.udpTimeoutS ?? DEFAULT_UDP_TIMEOUT_S;
    const nat = (name: string, kind: NatKind, subnet: string): Promise<NatRouter> => addNat(lab, internet, name, kind, subnet, udpTimeoutS);
    const aliceHome = await nat('homea', options.aliceHome ?? 'port-preserving', '198.51.100.0/30');
    const bobHome = await nat('homeb', options.bobHome ?? 'port-preserving', '198.51.100.4/30');
    const carrier = await nat('cgnat', options.carrier ?? 'symmetric', '198.51.100.8/30');

    const alice = await lab.addHost('alice');
    const bob = await lab.addHost('bob');
    await lab.connect(alice, aliceHome.router, { name: 'wifi0', peerName: 'lan0', subnet: HOME_SUBNET });
    await lab.connect(alice, carrier.router, { name: 'cell0', peerName: 'lan0', subnet: CARRIER_SUBNET, defaultRoute: true, metric: 200 });
    await lab.connect(bob, bobHome.router, { name: 'eth0', peerName: 'lan0', subnet: HOME_SUBNET });
    await routeBySource(alice, ['wifi0', 'cell0']);
    return { lab, internet, relay, server, alice, bob, aliceHome, bobHome, carrier };
  } catch (error) {
    await lab.teardown();
    throw error;
  }
}

async function addNat(lab: Lab, internet: Host, name: string, kind: NatKind, wanSubnet: string, udpTimeoutS: number): Promise<NatRouter> {
  const router = await lab.addRouter(name);
  const wan = await lab.connect(internet, router, { name: `to_${name}`, peerName: 'wan0', subnet: wanSubnet });
  const publicAddress = wan.end(router).address;
  await router.addRoute({ destination: 'default', via: wan.end(internet).address, dev: 'wan0' });
  await router.natUplink('wan0', { fullyRandom: kind === 'symmetric' });
  await setUdpTimeout(router, udpTimeoutS);
  return { router, kind, publicAddress };
}

/**
 * How long the NAT remembers an idle UDP mapping, answered or not. The sysctls are per network
 * namespace and exist once conntrack is loaded, which the masquerade rules do.
 */
export async function setUdpTimeout(router: Host, seconds: number): Promise<void> {
  await router.sysctl({ 'net.netfilter.nf_conntrack_udp_timeout': seconds, 'net.netfilter.nf_conntrack_udp_timeout_stream': seconds });
}

/** Packets the NAT dropped at its WAN side because nothing behind it asked for them (kernel count). */
export async function unsolicitedDrops(router: Host): Promise<number> {
  const listed = await router.exec('nft', ['list', 'counter', 'inet', natFilterTableName('wan0'), 'unsolicited']);
  const packets = /packets (\d+)/.exec(listed.stdout);
  if (!packets) throw new Error(`no unsolicited counter on ${router.name}: ${listed.stdout}`);
  return Number(packets[1]);
}

/** The NAT forgets every mapping at once, as a rebooted home router or a carrier's rebalancing does. */
export async function forgetMappings(router: Host): Promise<void> {
  await router.exec('conntrack', ['-F'], { allowFailure: true });
}

/**
 * A socket bound to one uplink's address leaves through that uplink, as on a phone or laptop
 * with a route per interface; without it, everything would take the main default route.
 */
async function routeBySource(host: Host, ifnames: readonly string[]): Promise<void> {
  for (const [index, ifname] of ifnames.entries()) {
    const end = host.iface(ifname);
    const table = String(UPLINK_TABLE_BASE + index);
    await host.ip(['route', 'replace', 'default', 'via', end.peer.address, 'dev', ifname, 'table', table]);
    await host.ip(['rule', 'add', 'from', end.address, 'table', table, 'priority', String(1000 + index)]);
  }
}
