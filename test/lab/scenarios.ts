// Ready-made lab set-ups shared by system tests, the demo and the benchmarks.

import type { Host } from './host.js';
import { HipvpnNode, type HipvpnIdentity, type ServeOptions } from './hipvpn.js';
import { Lab, type LabOptions } from './lab.js';

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
