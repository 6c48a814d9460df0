// One relay and rendezvous server host, sans-IO: UDP datagrams (with RFC 9028's framing) and
// time in, datagrams to send out. Three parts behind one port:
//   - a HipHost with the relay's own identity, configured as a registrar, for packets addressed
//     to the relay's HIT (base exchanges and UPDATEs with its clients: REG_REQUEST, PEER_PERMISSION);
//   - the control relay, for HIP packets addressed to other HITs;
//   - the data relay, for ESP (anything not starting with the zero marker).
// The registration table is shared by all three. Everything sent to a client leaves from the
// relay address the client registered to, so its NAT mapping towards that address carries it.

import type { CryptoProvider } from '../hip/crypto/index.js';
import { HipHost, type Endpoint, type HostConfig, type HostEvent, type Transmit } from '../hip/host.js';
import type { LocalHostIdentity } from '../hip/identity/host-identity.js';
import type { RegistrarHooks } from '../hip/registration.js';
import { hitToText, ipToBytes16, textToHit } from '../hip/wire/address.js';
import { RegistrationType } from '../hip/wire/constants.js';
import type { Param, PeerPermission, RegRequest, TransportAddress } from '../hip/wire/params.js';
import type { RelayServerStatus } from '../../src-shared/control-api.js';
import { ControlRelay, RELAY_DROP_REASONS, type ControlRelayOptions } from './control-relay.js';
import { DataRelay, ESP_DROP_REASONS, PERMISSION_REFUSALS, type DataRelayOptions, type Permission, type PermissionRefusal } from './data-relay.js';
import { RegistrationTable, canonicalHit, endpointKey, lifetimeSeconds, type RegistrarPolicy, type RegistrationsFile } from './registrations.js';

const MARKER_LENGTH = 4;
const IPPROTO_UDP = 17;
/** HIP header up to and including the receiver's HIT (RFC 7401 §5.1). */
const HIP_HEADER_LENGTH = 40;
/** How often lapsed registrations, permissions and refilled buckets are swept. */
const PRUNE_INTERVAL_MS = 10_000;

const REGISTRATION_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RegistrationType).map(([name, type]) => [type, name]));

export interface RelayServerOptions {
  identity: LocalHostIdentity;
  crypto: CryptoProvider;
  policy: RegistrarPolicy;
  /** Registrations read back from registrations.json (registrationsJSON()'s output); absent: none. */
  saved?: unknown;
  /** The relay's own addresses and port (its sockets). */
  locals: readonly Endpoint[];
  /** The client's name for status (the relay's peer list). */
  nameOf?: (hit: string) => string | null;
  /** Extra HipHost configuration (timers, puzzle) for tests and tuning. */
  host?: Partial<HostConfig>;
  control?: Partial<Pick<ControlRelayOptions, 'bucket' | 'sourceBucket' | 'maxSources' | 'permitMs' | 'maxPermitsPerClient'>>;
  data?: Partial<Pick<DataRelayOptions, 'packetBucket' | 'byteBucket' | 'maxPermissionsPerClient'>>;
}

/** What the daemon logs. */
export type RelayEvent =
  | { type: 'registration'; client: string; from: Endpoint; granted: number[]; cancelled: number[]; failed: { failureType: number; regTypes: number[] }[] }
  | { type: 'permissions'; client: string; installed: number; refused: { spi: number; reason: PermissionRefusal }[] }
  | { type: 'association'; client: string; state: 'established' | 'closed' | 'failed' }
  | { type: 'loaded'; kept: number; dropped: { index: number; reason: string }[] };

/** registrations.json: the table plus the relay address each client registered to. */
export interface SavedRegistrations extends RegistrationsFile { registeredTo?: Record<string, Endpoint>; permissions?: Permission[] }

export interface RelayTransmit { bytes: Uint8Array; to: Endpoint; from?: Endpoint }

function frameHip(packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(MARKER_LENGTH + packet.length);
  out.set(packet, MARKER_LENGTH);
  return out;
}

function isEndpoint(v: unknown): v is Endpoint {
  const e = v as Partial<Endpoint> | null;
  return typeof e === 'object' && e !== null && typeof e.address === 'string' && ipToBytes16(e.address) !== null
    && typeof e.port === 'number' && Number.isInteger(e.port) && e.port > 0 && e.port <= 0xffff;
}

export class RelayServer {
  readonly host: HipHost;
  readonly hit: string;
  readonly registrations: RegistrationTable;
  readonly control: ControlRelay;
  readonly data: DataRelay;
  /** Per client: the relay address and port its registration arrived at. */
  private readonly registeredTo = new Map<string, Endpoint>();
  private readonly transmits: RelayTransmit[] = [];
  private readonly events: RelayEvent[] = [];
  private readonly locals: Endpoint[];
  private runts = 0;
  private nextPruneAt: number;
  /** Set when the registrations changed since the daemon last saved them (takeChanged()). */
  private changed = false;

  constructor(private readonly options: RelayServerOptions, now: number) {
    this.locals = options.locals.map((l) => ({ ...l }));
    const loaded = RegistrationTable.fromJSON(options.saved ?? { version: 1, registrations: [] }, options.policy, now);
    this.registrations = loaded.table;
    if (options.saved !== undefined) {
      this.events.push({ type: 'loaded', kept: loaded.table.live(now).length, dropped: loaded.dropped });
      const to = (options.saved as Partial<SavedRegistrations>).registeredTo;
      for (const [hit, ep] of Object.entries(typeof to === 'object' && to !== null ? to : {})) {
        const h = canonicalHit(hit);
        if (h !== null && isEndpoint(ep) && this.registrations.isKnownClient(h) && this.isLocal(ep)) this.registeredTo.set(h, { address: ep.address, port: ep.port });
      }
    }
    const registrar: RegistrarHooks = {
      offer: () => this.registrations.offer(),
      handleRequest: (clientHit, request, from, to, at) => this.onRequest(clientHit, request, from, to, at),
      handlePermissions: (clientHit, permissions, _from, at) => this.onPermissions(clientHit, permissions, at),
    };
    this.host = new HipHost({ ...options.host, identity: options.identity, crypto: options.crypto, registrar }, now);
    this.hit = hitToText(this.host.hit);
    this.control = new ControlRelay({
      ...options.control,
      registrations: this.registrations,
      crypto: options.crypto,
      // Any port of a public address of the relay is off limits; on loopback, only its own socket.
      ownAddresses: this.locals.map((l) => l.address).filter((a) => !/^(127\.|::1$|::ffff:127\.)/.test(a)),
      ownEndpoints: this.locals,
      keyFor: (clientHit, direction) => {
        const hit = textToHit(clientHit);
        const keys = hit ? this.host.integrityKeys(hit) : undefined;
        if (!keys) return undefined;
        return { hash: keys.hash, key: direction === 'to-client' ? keys.outbound : keys.inbound };
      },
    });
    this.data = new DataRelay({ ...options.data, registrations: this.registrations });
    if (options.saved !== undefined) this.data.load((options.saved as Partial<SavedRegistrations>).permissions, now);
    this.nextPruneAt = now + PRUNE_INTERVAL_MS;
    this.reachSavedClients(now);
  }

  /**
   * After a restart the registrations and permissions are back from disk, so relayed ESP flows
   * again at once, but the HIP associations (and with them the RELAY_HMAC keys) are gone. The
   * relay runs the base exchange to each client itself, to the address it registered from, which
   * the client's keepalives hold open in its NAT: the control relay works again within a round
   * trip or two, instead of when each client's failure detection gives the relay up.
   */
  private reachSavedClients(now: number): void {
    const seen = new Set<string>();
    for (const r of this.registrations.live(now)) {
      if (seen.has(r.hit)) continue;
      seen.add(r.hit);
      const hit = textToHit(r.hit);
      if (hit !== null) this.host.connect(now, hit, { ...r.reflexive }, this.registeredTo.get(r.hit));
    }
    this.drainHost();
  }

  private isLocal(ep: Endpoint): boolean {
    return this.locals.some((l) => endpointKey(l) === endpointKey(ep));
  }

  // -------------------------------------------------------------------------------------------
  // Registrar hooks (called by the HipHost for authenticated I2s and UPDATEs)

  private onRequest(clientHit: Uint8Array, request: RegRequest, from: Endpoint, to: Endpoint, now: number): Param[] {
    const outcome = this.registrations.handleRequest(clientHit, request, from, now);
    const client = hitToText(clientHit);
    const params = [...outcome.params];
    if (outcome.granted.length > 0) this.registeredTo.set(client, { ...to });
    if (!this.registrations.isKnownClient(client)) this.registeredTo.delete(client);
    const address = ipToBytes16(to.address);
    if (outcome.granted.includes(RegistrationType.RELAY_UDP_ESP) && address) {
      // Demultiplexed by SPI: the relayed address is the very address and port the client registered to.
      params.push({ kind: 'RELAYED_ADDRESS', port: to.port, protocol: IPPROTO_UDP, address } satisfies TransportAddress<'RELAYED_ADDRESS'>);
    }
    if (outcome.granted.length > 0 || outcome.cancelled.length > 0) this.changed = true;
    if (outcome.cancelled.includes(RegistrationType.RELAY_UDP_ESP)) this.data.prune(now);
    this.events.push({ type: 'registration', client, from: { ...from }, granted: outcome.granted, cancelled: outcome.cancelled, failed: outcome.failed });
    return params;
  }

  private onPermissions(clientHit: Uint8Array, permissions: PeerPermission[], now: number): void {
    const r = this.data.setPermissions(clientHit, permissions, now);
    if (r.installed.length > 0) this.changed = true;
    this.events.push({ type: 'permissions', client: hitToText(clientHit), installed: r.installed.length, refused: r.refused });
  }

  // -------------------------------------------------------------------------------------------
  // I/O-facing API

  /** One UDP datagram received on the relay port, with the RFC 9028 framing. Never throws on input. */
  handleDatagram(now: number, bytes: Uint8Array, from: Endpoint, to: Endpoint): void {
    if (bytes.length < MARKER_LENGTH) {
      this.runts++;
      return;
    }
    if ((bytes[0]! | bytes[1]! | bytes[2]! | bytes[3]!) !== 0) {
      const d = this.data.handle(bytes, from, now);
      if (d.action === 'forward') this.send(d.datagram, d.to, this.registeredTo.get(d.client) ?? to);
      return;
    }
    const packet = bytes.subarray(MARKER_LENGTH);
    if (packet.length < HIP_HEADER_LENGTH || this.forRelay(packet.subarray(24, 40))) {
      this.host.handlePacket(now, packet, from, to);
      this.drainHost();
      return;
    }
    const d = this.control.handle(packet, from, now);
    if (d.action !== 'forward') return;
    // Towards a client: from where it registered. From a client: towards a peer that is a client
    // too, from where that one registered; else from where the packet came in.
    const receiver = d.direction === 'to-client' ? d.client : canonicalHit(packet.subarray(24, 40));
    this.send(frameHip(d.datagram), d.to, (receiver !== null ? this.registeredTo.get(receiver) : undefined) ?? to);
  }

  /** Packets for the relay's own HIT, or opportunistic ones (receiver all zero), are its host's. */
  private forRelay(receiver: Uint8Array): boolean {
    return receiver.every((b, i) => b === this.host.hit[i]) || receiver.every((b) => b === 0);
  }

  handleTimeout(now: number): void {
    this.host.handleTimeout(now);
    this.drainHost();
    if (now >= this.nextPruneAt) {
      this.prune(now);
      this.nextPruneAt = now + PRUNE_INTERVAL_MS;
    }
  }

  nextTimeout(): number {
    const host = this.host.nextTimeout();
    return host === undefined ? this.nextPruneAt : Math.min(host, this.nextPruneAt);
  }

  pollTransmit(): RelayTransmit | undefined {
    return this.transmits.shift();
  }

  pollEvent(): RelayEvent | undefined {
    return this.events.shift();
  }

  /**
   * A client taken off the relay's list: its registrations are cancelled, its permissions and
   * the association with it go, so nothing more is relayed for it.
   */
  forget(clientHit: string, now: number): void {
    const hit = textToHit(clientHit);
    if (!hit) return;
    const all = Object.values(RegistrationType);
    this.registrations.handleRequest(hit, { kind: 'REG_REQUEST', lifetime: 0, regTypes: all }, { address: '::', port: 0 }, now);
    this.registeredTo.delete(hitToText(hit));
    this.data.prune(now);
    this.host.close(now, hit);
    this.drainHost();
    this.changed = true;
  }

  /** True once after the registrations changed: the daemon writes registrationsJSON() then. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  registrationsJSON(): SavedRegistrations {
    const table = this.registrations.toJSON();
    const registeredTo: Record<string, Endpoint> = {};
    for (const r of table.registrations) {
      const to = this.registeredTo.get(r.hit);
      if (to) registeredTo[r.hit] = { ...to };
    }
    return { ...table, registeredTo, permissions: this.data.toJSON() };
  }

  private prune(now: number): void {
    if (this.registrations.prune(now) > 0) this.changed = true;
    for (const hit of [...this.registeredTo.keys()]) if (!this.registrations.isKnownClient(hit)) this.registeredTo.delete(hit);
    // The relay keeps state only for its clients: an association with a host that was refused,
    // never asked, or let its registrations lapse is closed.
    for (const a of this.host.associations()) {
      if ((a.state === 'ESTABLISHED' || a.state === 'R2-SENT') && !this.registrations.isKnownClient(a.peerHitText)) this.host.close(now, a.peerHit);
    }
    this.drainHost();
    this.control.prune(now);
    if (this.data.prune(now) > 0) this.changed = true;
  }

  private send(bytes: Uint8Array, to: Endpoint, from: Endpoint | undefined): void {
    this.transmits.push(from === undefined ? { bytes, to } : { bytes, to, from });
  }

  private drainHost(): void {
    for (let t: Transmit | undefined = this.host.pollTransmit(); t !== undefined; t = this.host.pollTransmit()) {
      this.send(frameHip(t.bytes), t.to, t.from);
    }
    for (let e: HostEvent | undefined = this.host.pollEvent(); e !== undefined; e = this.host.pollEvent()) {
      if (e.type === 'established' || e.type === 'closed' || e.type === 'failed') {
        this.events.push({ type: 'association', client: hitToText(e.peerHit), state: e.type });
      }
    }
  }

  /** Clients with live registrations, and every counter; the daemon adds listening, uptime and policy. */
  status(now: number): Omit<RelayServerStatus, 'version' | 'listening' | 'acceptAny' | 'uptimeMs'> {
    const assocState = new Map(this.host.associations().map((a) => [hitToText(a.peerHit), a.state]));
    const byClient = new Map<string, ReturnType<RegistrationTable['live']>>();
    for (const r of this.registrations.live(now)) byClient.set(r.hit, [...(byClient.get(r.hit) ?? []), r]);
    const clients: RelayServerStatus['clients'] = [...byClient].map(([hit, regs]) => {
      const latest = regs.reduce((a, b) => (b.grantedAt > a.grantedAt ? b : a));
      return {
        hit,
        name: this.options.nameOf?.(hit) ?? null,
        registrations: regs.sort((a, b) => a.regType - b.regType).map((r) => ({
          type: r.regType,
          name: REGISTRATION_TYPE_NAMES[r.regType] ?? `TYPE_${r.regType}`,
          lifetimeS: lifetimeSeconds(r.lifetime),
          expiresInS: Math.max(0, Math.round((r.expiresAt - now) / 1000)),
        })),
        reflexive: { ...latest.reflexive },
        relayedAddress: this.registeredTo.get(hit) ?? null,
        permissions: this.data.permissionsOf(hit).length,
        rateLimited: { control: this.control.rateLimitedByClient.get(hit) ?? 0, data: this.data.rateLimitedByClient.get(hit) ?? 0 },
        association: assocState.get(hit) ?? 'UNASSOCIATED',
      };
    });
    return {
      hit: this.hit,
      clients,
      counters: {
        forwarded: {
          hipToClient: this.control.forwarded.toClient,
          hipFromClient: this.control.forwarded.fromClient,
          espPackets: this.data.forwarded.packets,
          espBytes: this.data.forwarded.bytes,
        },
        control: Object.fromEntries(RELAY_DROP_REASONS.map((r) => [r, this.control.drops[r]])),
        data: Object.fromEntries(ESP_DROP_REASONS.map((r) => [r, this.data.drops[r]])),
        permissions: Object.fromEntries(PERMISSION_REFUSALS.map((r) => [r, this.data.refusals[r]])),
        host: { ...this.host.counters.dropped },
        runts: this.runts,
      },
    };
  }
}
