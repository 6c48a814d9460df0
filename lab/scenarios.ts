// Ready-made lab set-ups shared by system tests, the demo and the benchmarks.

import type { PathUnderTest } from './handover.js';
import type { Host } from './host.js';
import { HipvpnNode, type HipvpnIdentity, type ServeOptions } from './hipvpn.js';
import { Lab, type LabOptions } from './lab.js';
import type { MobilityLab } from './mobility.js';
import { startWireguard, WIREGUARD_PORT, type WireguardPair } from './wireguard.js';

export interface TwoHosts {
  readonly lab: Lab;
  readonly alice: Host;
  readonly bob: Host;
}

/** Two hosts on one veth link, eth0 on both sides (10.1.0.1 and 10.1.0.2). */
export async function twoHosts(options: LabOptions = {}): Promise<TwoHosts> {
  const lab = await Lab.create(options);
  try {
    const alice = await lab.addHost('alice');
    const bob = await lab.addHost('bob');
    await lab.connect(alice, bob, { name: 'eth0' });
    return { lab, alice, bob };
  } catch (error) {
    await lab.teardown();
    throw error;
  }
}

export type TunnelPair = TwoHosts & Tunnel;

export interface TunnelPairOptions extends LabOptions {
  /** Daemon log lines, labelled by host (the demo prints them). */
  readonly onDaemonLine?: (host: string, line: string) => void;
  /** Start without waiting for the base exchange. */
  readonly skipEstablish?: boolean;
  /** Give bob alice's locator too (site-to-site style: either side can start a base exchange). */
  readonly symmetric?: boolean;
}

/**
 * Two hosts, each with its identity, the other as a peer (alice knows bob's locator; bob waits
 * to be contacted unless `symmetric`), both daemons serving with a TUN, and the association
 * ESTABLISHED.
 */
export async function tunnelPair(options: TunnelPairOptions = {}): Promise<TunnelPair> {
  const hosts = await twoHosts(options);
  try {
    return { ...hosts, ...(await startTunnel(hosts.alice, hosts.bob, options)) };
  } catch (error) {
    await hosts.lab.teardown();
    throw error;
  }
}

export interface Tunnel {
  readonly aliceVpn: HipvpnNode;
  readonly bobVpn: HipvpnNode;
  readonly aliceId: HipvpnIdentity;
  readonly bobId: HipvpnIdentity;
}

/** hipvpn between two hosts of an existing lab, over their eth0 link (see tunnelPair). */
export async function startTunnel(alice: Host, bob: Host, options: TunnelPairOptions = {}): Promise<Tunnel> {
  const aliceVpn = new HipvpnNode(alice);
  const bobVpn = new HipvpnNode(bob);
  const [aliceId, bobId] = await Promise.all([aliceVpn.identity(), bobVpn.identity()]);
  await Promise.all([
    aliceVpn.addPeer(bob.name, bobId.hit, [`${bob.address('eth0')}:${bobVpn.port}`]),
    bobVpn.addPeer(alice.name, aliceId.hit, options.symmetric ? [`${alice.address('eth0')}:${aliceVpn.port}`] : []),
  ]);
  const serve = (node: HipvpnNode): ServeOptions => ({
    onLine: options.onDaemonLine ? (line) => options.onDaemonLine?.(node.host.name, line) : undefined,
  });
  await bobVpn.serve(serve(bobVpn));
  await aliceVpn.serve(serve(aliceVpn));
  if (!options.skipEstablish) {
    await aliceVpn.waitForEstablished(bob.name);
    await bobVpn.waitForEstablished(alice.name);
  }
  return { aliceVpn, bobVpn, aliceId, bobId };
}

// ---------------------------------------------------------------------------------------------
// Mobility: the laptop with wifi0 and cell0 (see mobility.ts) and tunnels across it.

export { MobilityLab, mobilityLab, type CellStart, type MobilityLabOptions } from './mobility.js';

export interface MobilityTunnelOptions {
  /**
   * Who starts the base exchange: the mobile (it knows the server's address; the server waits
   * to be contacted, as a VPN server does) or the server (it knows the mobile's wifi0 address;
   * needed when the server is behind its site's NAT and has no address of its own to give).
   */
  readonly initiator?: 'mobile' | 'server';
  readonly onDaemonLine?: (host: string, line: string) => void;
  /** Both daemons' `--multihoming`. */
  readonly multihoming?: 'fault-tolerance' | 'simultaneous';
  /** Added to both daemons' environment. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface MobilityTunnel extends PathUnderTest {
  readonly mobileVpn: HipvpnNode;
  readonly serverVpn: HipvpnNode;
}

/** hipvpn on the mobile and the server, established, with the LSIs each uses for the other. */
export async function startMobilityHipvpn(mobility: MobilityLab, options: MobilityTunnelOptions = {}): Promise<MobilityTunnel> {
  const { mobile, server } = mobility;
  const mobileVpn = new HipvpnNode(mobile);
  const serverVpn = new HipvpnNode(server);
  const [mobileId, serverId] = await Promise.all([mobileVpn.identity(), serverVpn.identity()]);
  const mobileStarts = (options.initiator ?? 'mobile') === 'mobile';
  await Promise.all([
    mobileVpn.addPeer('server', serverId.hit, mobileStarts ? [`${mobility.serverAddress}:${serverVpn.port}`] : []),
    serverVpn.addPeer('mobile', mobileId.hit, mobileStarts ? [] : [`${mobility.wifi.address}:${mobileVpn.port}`]),
  ]);
  const serve = (node: HipvpnNode): ServeOptions => ({
    onLine: options.onDaemonLine ? (line) => options.onDaemonLine?.(node.host.name, line) : undefined,
    ...(options.multihoming ? { multihoming: options.multihoming } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
  const [responder, initiator] = mobileStarts ? [serverVpn, mobileVpn] : [mobileVpn, serverVpn];
  await responder.serve(serve(responder));
  await initiator.serve(serve(initiator));
  const [serverPeer, mobilePeer] = await Promise.all([mobileVpn.waitForEstablished('server'), serverVpn.waitForEstablished('mobile')]);
  if (!serverPeer.lsi || !mobilePeer.lsi) throw new Error('hipvpn status shows no LSI for a peer');
  return { label: 'hipvpn', mobile, server, serverAddress: serverPeer.lsi, mobileAddress: mobilePeer.lsi, mobileVpn, serverVpn };
}

export interface MobilityWireguard extends PathUnderTest {
  readonly wireguard: WireguardPair;
}

/**
 * wireguard-go on the mobile and the server, set up as a road warrior: the mobile has the
 * server's address and a persistent keepalive of 1 s (its best case for noticing a move); the
 * server has no endpoint for the mobile and follows wherever the mobile's packets come from.
 */
export async function startMobilityWireguard(mobility: MobilityLab): Promise<MobilityWireguard> {
  if (mobility.serverKind === 'port-forwarded') await mobility.forwardToServer(WIREGUARD_PORT);
  const wireguard = await startWireguard(mobility.lab, mobility.mobile, mobility.server, 'eth0', {
    keepaliveSeconds: 1,
    endpoints: [mobility.serverAddress, null],
  });
  const [atMobile, atServer] = wireguard.sides;
  return {
    label: 'wireguard-go',
    mobile: mobility.mobile,
    server: mobility.server,
    serverAddress: atServer.innerAddress,
    mobileAddress: atMobile.innerAddress,
    wireguard,
  };
}

/** Plain routing, no tunnel: only the mobile -> server direction can follow a move. */
export function plainRouting(mobility: MobilityLab): PathUnderTest {
  return { label: 'plain routing', mobile: mobility.mobile, server: mobility.server, serverAddress: mobility.serverAddress, mobileAddress: null };
}
