// hipvpn through a relay in the NAT lab (lab/nat.ts): `hipvpn relay serve` on the public relay
// host, alice and bob behind their NATs, each knowing the other by HIT alone and the relay by
// `--relay HIT@ADDR`, as a user would set them up.

import type { RelayServerStatus } from '../src-shared/control-api.js';
import type { PathUnderTest } from './handover.js';
import { HipvpnNode, sleep, type HipvpnIdentity } from './hipvpn.js';
import type { Host } from './host.js';
import type { NatLab } from './nat.js';
import type { LabProcess } from './process.js';

export const RELAY_PORT = 10500;

/** `hipvpn relay serve` on a lab host, driven through its CLI like the client daemons. */
export class RelayDaemon {
  readonly node: HipvpnNode;
  process: LabProcess | undefined;

  constructor(readonly host: Host, readonly address: string, readonly port = RELAY_PORT) {
    this.node = new HipvpnNode(host, port, 'relay');
  }

  identity(): Promise<HipvpnIdentity> {
    return this.node.identity();
  }

  /** What a client passes to `--relay`. */
  async relayArg(): Promise<string> {
    return `${(await this.identity()).hit}@${this.address}:${this.port}`;
  }

  async serve(onLine?: (line: string) => void): Promise<void> {
    this.process = await this.node.relayServe({ listen: [this.address], port: this.port, acceptAny: true, ...(onLine ? { onLine } : {}) });
  }

  async stop(): Promise<void> {
    await this.node.stop();
  }

  status(): Promise<RelayServerStatus> {
    return this.node.relayStatus();
  }
}

export interface RelayedPair {
  readonly relay: RelayDaemon;
  readonly aliceVpn: HipvpnNode;
  readonly bobVpn: HipvpnNode;
  readonly aliceId: HipvpnIdentity;
  readonly bobId: HipvpnIdentity;
}

export interface RelayedPairOptions {
  readonly onLine?: (who: string, line: string) => void;
}

export interface RelayClientsOptions extends RelayedPairOptions {
  /** Names both clients' state dirs: a new name is a new identity (a cold start for the relay too). */
  readonly stateName?: string;
  /** Peers alice knows besides bob, added before she starts ("IP" or "IP:PORT" locators). */
  readonly alicePeers?: ReadonlyArray<{ readonly name: string; readonly hit: string; readonly locators: readonly string[] }>;
}

/**
 * The relay, then bob and alice registered with it, each with the other as a peer by HIT alone.
 * alice initiates when her traffic asks for bob; nothing is established yet when this returns.
 */
export async function startRelayedPair(net: NatLab, options: RelayedPairOptions = {}): Promise<RelayedPair> {
  const relay = new RelayDaemon(net.relay, net.relay.address('eth0'));
  await relay.serve(options.onLine && ((line) => options.onLine?.('relay', line)));
  const clients = await prepareRelayClients(net, relay, options);
  await clients.serveBob();
  await clients.serveAlice();
  return clients.pair;
}

export interface PreparedRelayClients {
  readonly pair: RelayedPair;
  serveAlice(): Promise<LabProcess>;
  serveBob(): Promise<LabProcess>;
}

/**
 * alice and bob with identities and peers, using an already running relay, not yet serving:
 * the caller decides when (and in which order) the daemons start.
 */
export async function prepareRelayClients(net: NatLab, relay: RelayDaemon, options: RelayClientsOptions = {}): Promise<PreparedRelayClients> {
  const relayArg = await relay.relayArg();
  const stateName = options.stateName ?? 'hipvpn';
  const aliceVpn = new HipvpnNode(net.alice, undefined, stateName);
  const bobVpn = new HipvpnNode(net.bob, undefined, stateName);
  const [aliceId, bobId] = await Promise.all([aliceVpn.identity(), bobVpn.identity()]);
  await Promise.all([aliceVpn.addPeer('bob', bobId.hit), bobVpn.addPeer('alice', aliceId.hit)]);
  for (const peer of options.alicePeers ?? []) await aliceVpn.addPeer(peer.name, peer.hit, peer.locators);
  const serve = (node: HipvpnNode, who: string): Promise<LabProcess> =>
    node.serve({ relays: [relayArg], ...(options.onLine ? { onLine: (line: string) => options.onLine?.(who, line) } : {}) });
  return {
    pair: { relay, aliceVpn, bobVpn, aliceId, bobId },
    serveAlice: () => serve(aliceVpn, 'alice'),
    serveBob: () => serve(bobVpn, 'bob'),
  };
}

/** Until every client daemon says it is registered with the relay. */
export async function waitRegistered(nodes: readonly HipvpnNode[], timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(nodes.map(async (n) => (await n.status()).relays?.every((r) => r.registered) === true));
    if (states.every(Boolean)) return;
    if (performance.now() > deadline) {
      const detail = await Promise.all(nodes.map(async (n) => `${n.host.name}: ${JSON.stringify((await n.status()).relays)}`));
      throw new Error(`not registered with the relay within ${timeoutMs} ms\n${detail.join('\n')}`);
    }
    await sleep(100);
  }
}

/** Until alice and bob each hold an association with the other through the relay. */
export async function waitRelayedEstablished(pair: RelayedPair, timeoutMs = 10_000): Promise<void> {
  await pair.aliceVpn.waitForEstablished('bob', timeoutMs);
  await pair.bobVpn.waitForEstablished('alice', timeoutMs);
}

/**
 * The relay handover lab's starting point: alice on Wi-Fi (cell0 down), both clients registered,
 * the association up and a ping by HIT answered; the path between their LSIs, and both sides'
 * `via` as "alice/bob" (direct/direct on Wi-Fi once the checks passed).
 */
export async function relayedOnWifi(net: NatLab): Promise<{ pair: RelayedPair; path: PathUnderTest; via: () => Promise<string> }> {
  await net.alice.iface('cell0').cutLink('down');
  const pair = await startRelayedPair(net);
  await waitRegistered([pair.aliceVpn, pair.bobVpn]);
  // The first packet only asks for the association (the data plane holds no SA yet to seal
  // it with): once both ends are established a ping by HIT must be answered.
  await net.alice.exec('ping', ['-n', '-c', '1', '-W', '1', pair.bobId.hit], { allowFailure: true });
  await waitRelayedEstablished(pair);
  const ping = await net.alice.exec('ping', ['-n', '-c', '1', '-W', '5', pair.bobId.hit], { allowFailure: true });
  if (ping.code !== 0) throw new Error(`alice -> bob by HIT after the association was up:\n${ping.stdout}`);
  let lsis: [string, string] | undefined;
  for (let i = 0; i < 100 && lsis === undefined; i++) {
    const [b, a] = await Promise.all([pair.aliceVpn.peer('bob'), pair.bobVpn.peer('alice')]);
    if (b?.lsi && a?.lsi && b.state === 'ESTABLISHED') lsis = [b.lsi, a.lsi];
    else await sleep(100);
  }
  if (lsis === undefined) throw new Error('no association between alice and bob');
  const path = { label: 'hipvpn', mobile: net.alice, server: net.bob, serverAddress: lsis[0], mobileAddress: lsis[1] };
  const via = async (): Promise<string> => `${(await pair.aliceVpn.peer('bob'))?.via}/${(await pair.bobVpn.peer('alice'))?.via}`;
  for (let i = 0; i < 40 && (await via()) !== 'direct/direct'; i++) await sleep(50);
  return { pair, path, via };
}
