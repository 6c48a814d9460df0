// Shared scaffolding of the sim-mobility tests: a mobile host A with a wifi and a cellular
// address, a peer B with a main and an alternate address, on the deterministic simulated
// network; plus readers for what went over the wire.

import assert from 'node:assert/strict';
import { decodePacket, getParam } from '../../src-main/hip/wire/codec.js';
import { PacketType } from '../../src-main/hip/wire/constants.js';
import { bytes16ToIp } from '../../src-main/hip/wire/address.js';
import type { HostConfig, OwnLocator } from '../../src-main/hip/host.js';
import { decodeProbeReport } from '../../src-main/hip/pair-probe.js';
import { buildUpdate, sealSignature, type Sealer, type UpdateContents } from '../../src-main/hip/messages.js';
import { buildLocatorSet } from '../../src-main/hip/local-locators.js';
import { encodePacket, sortParams } from '../../src-main/hip/wire/codec.js';
import { hex } from '../../src-main/hip/responder.js';
import type { HashName } from '../../src-main/hip/crypto/provider.js';
import { PERFECT_LINK, SimNetwork, type SimEndpoint } from '../support/sim-network.js';
import { EP_A, EP_B, TestHost, established, identity, seededCrypto } from '../support/hip-hosts.js';

export const A_WIFI: SimEndpoint = EP_A;
export const A_CELL: SimEndpoint = { address: '203.0.113.7', port: 10500 };
export const B_MAIN: SimEndpoint = EP_B;
export const B_ALT: SimEndpoint = { address: '198.51.100.77', port: 10500 };

export const DEAD = { ...PERFECT_LINK, loss: 1 };

export function wifi(preferred = true): OwnLocator {
  return { ...A_WIFI, ifname: 'wifi0', kind: 'wifi', preferred };
}
export function cell(preferred = false): OwnLocator {
  return { ...A_CELL, ifname: 'cell0', kind: 'cellular', preferred };
}

export interface World { net: SimNetwork; a: TestHost; b: TestHost }

/** A (wifi + cell addresses) and B (main + alternate), each host reachable at both of its addresses. */
export function mobileWorld(seed: number, a: Partial<HostConfig> = {}, b: Partial<HostConfig> = {}): World {
  const net = new SimNetwork(seed);
  const ha = new TestHost({ identity: identity('ecdsa-p256', 0), crypto: seededCrypto(seed ^ 0xa), ...a }, net.now, A_WIFI);
  const hb = new TestHost({ identity: identity('ecdsa-p256', 1), crypto: seededCrypto(seed ^ 0xb), ...b }, net.now, B_MAIN);
  net.addNode('A-wifi', A_WIFI, ha);
  net.addNode('A-cell', A_CELL, ha);
  net.addNode('B-main', B_MAIN, hb);
  net.addNode('B-alt', B_ALT, hb);
  return { net, a: ha, b: hb };
}

/** A connects to B over wifi; both ESTABLISHED and quiet afterwards. */
export function connected(w: World): World {
  w.a.act((h) => h.connect(w.net.now, w.b.host.hit, B_MAIN, A_WIFI));
  assert.ok(w.net.runUntil(() => established(w.a) && established(w.b), 5_000), 'base exchange did not complete');
  w.net.runFor(200);
  return w;
}

/** Both directions between these endpoints lose everything (or work again with `profile`). */
export function setPath(net: SimNetwork, x: SimEndpoint, y: SimEndpoint, profile = DEAD): void {
  net.setLink(x, y, profile);
  net.setLink(y, x, profile);
}

export interface UpdateView {
  seq?: number;
  ack: number[];
  espInfo?: { oldSpi: number; newSpi: number; keymatIndex: number };
  locators?: { address: string; port?: number; spi?: number; preferred: boolean; lifetime: number }[];
  echoRequest?: Uint8Array;
  echoResponse?: Uint8Array;
  report?: number[];
}

export function updateOf(bytes: Uint8Array): UpdateView | undefined {
  const d = decodePacket(bytes);
  if (!d.ok || d.packet.packetType !== PacketType.UPDATE) return undefined;
  const p = d.packet;
  return {
    seq: getParam(p, 'SEQ')?.updateId,
    ack: getParam(p, 'ACK')?.updateIds ?? [],
    espInfo: getParam(p, 'ESP_INFO'),
    locators: getParam(p, 'LOCATOR_SET')?.locators.map((l) => ({ address: bytes16ToIp(l.address), port: l.port, spi: l.spi, preferred: l.preferred, lifetime: l.lifetime })),
    echoRequest: getParam(p, 'ECHO_REQUEST_SIGNED')?.opaque,
    echoResponse: getParam(p, 'ECHO_RESPONSE_SIGNED')?.opaque,
    report: decodeProbeReport(p.params),
  };
}

/** Every UPDATE sent so far, with where it went. */
export function updatesSent(net: SimNetwork): { u: UpdateView; from: SimEndpoint; to: SimEndpoint; sentAt: number; bytes: Uint8Array }[] {
  return net.trace.flatMap((t) => {
    const u = updateOf(t.bytes);
    return u === undefined || t.duplicate ? [] : [{ u, from: t.from, to: t.to, sentAt: t.sentAt, bytes: t.bytes }];
  });
}

export const same = (x: { address: string; port: number } | undefined, y: { address: string; port: number }): boolean =>
  x !== undefined && x.address === y.address && x.port === y.port;

/** B's view of A's locator at `ep`. */
export function locatorState(h: TestHost, peer: TestHost, ep: SimEndpoint): string | undefined {
  const s = h.host.associations().find((x) => x.peerHit.every((v, i) => v === peer.host.hit[i]));
  return s?.peerLocators.find((l) => same(l, ep))?.state;
}

export function remoteOf(h: TestHost, peer: TestHost): SimEndpoint | undefined {
  return h.host.associations().find((x) => x.peerHit.every((v, i) => v === peer.host.hit[i]))?.remote;
}

/** The parts of an association's shared state `authenticUpdate` seals with (private to the protocol code). */
interface SealingInternals { ctx: Sealer; rhash: HashName; hipKeys: { outInt: Uint8Array }; newUpdateId(): number }

/**
 * An UPDATE sealed exactly as `sender`'s association with `receiver` seals its own (its HIP_MAC
 * key, its signature, its next SEQ), with contents `sender`'s code never chooses: how a test plays
 * a peer implementation that sends what ours does not (a locator type we lack, say).
 */
export function authenticUpdate(sender: TestHost, receiver: TestHost, contents: Omit<UpdateContents, 'seq'>): Uint8Array {
  const assocs = (sender.host as unknown as { assocs: Map<string, { s: SealingInternals }> }).assocs;
  const assoc = assocs.get(hex(receiver.host.hit))?.s;
  assert.ok(assoc !== undefined, 'no association to seal with');
  return buildUpdate(assoc.ctx, assoc.rhash, assoc.hipKeys.outInt, sender.host.hit, receiver.host.hit, { ...contents, seq: assoc.newUpdateId() });
}

/** Any notice: what a NOTIFY carrying a LOCATOR_SET says besides it does not matter here. */
export const INFO_NOTICE = 16_400;

/**
 * A NOTIFY from A (the identity mobileWorld gives it) to B carrying a LOCATOR_SET of these
 * locators on A's inbound SPI, the last one preferred; signed unless told otherwise.
 */
export function notifyWithLocators(a: TestHost, b: TestHost, locators: { address: string; port: number }[], opts: { signed?: boolean } = {}): Uint8Array {
  const spi = a.host.associations()[0]!.inboundSpi!;
  const locatorSet = buildLocatorSet(locators.map((l, i) => ({ locator: l, spi, preferred: i === locators.length - 1 })));
  const pkt = {
    packetType: PacketType.NOTIFY, controls: 0, senderHit: a.host.hit, receiverHit: b.host.hit,
    params: sortParams([{ kind: 'NOTIFICATION' as const, notifyType: INFO_NOTICE, data: new Uint8Array(0) }, locatorSet]),
  };
  return opts.signed === false ? encodePacket(pkt) : sealSignature({ crypto: seededCrypto(1), identity: identity('ecdsa-p256', 0) }, pkt);
}
