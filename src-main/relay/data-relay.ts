// The data relay (RFC 9028 §4.12.3 and §5.9: RELAY_UDP_ESP, RELAYED_ADDRESS, PEER_PERMISSION),
// sans-IO: one ESP datagram and its source in, at most one datagram to send (or a counted drop)
// out.
//
// ESP is demultiplexed by SPI on the relay's own port: a client's RELAYED_ADDRESS is the relay
// address and port it registered to, and both ends of a relayed association send their ESP there
// with the receiver's inbound SPI. A client permits a peer with PEER_PERMISSION in an
// authenticated UPDATE: its own inbound SPI for that peer (connectedSpi), the peer's HIT and the
// peer's endpoint as the client learned it. ESP with SPI s from source S goes to the client that
// owns s only when that client holds a live RELAY_UDP_ESP registration and S's IP address equals
// the permission's address (any port: TURN's rule, RFC 8656 §9, so a symmetric NAT's other
// mapping still matches) or S is a live registration's reflexive endpoint of the permitted peer
// (or the endpoint that registration moved from, for a short grace: MOVED_SOURCE_GRACE_MS).
// A token bucket per receiving client (packets and octets) keeps one client's flood from
// starving the others.

import { bytes16ToIp, ipToBytes16, textToHit } from '../hip/wire/address.js';
import { RegistrationType } from '../hip/wire/constants.js';
import type { PeerPermission } from '../hip/wire/params.js';
import { canonicalHit, endpointKey, type Endpoint, type RegistrationTable } from './registrations.js';
import { fullBucket, refilled, spend, type Bucket, type BucketSpec } from './token-bucket.js';

export type EspDropReason =
  | 'esp-too-short' // shorter than an ESP header (SPI and sequence number)
  | 'esp-unknown-spi' // no client holds a permission for this SPI
  | 'esp-unregistered' // the SPI's client holds no live RELAY_UDP_ESP registration
  | 'esp-no-permission' // the source is neither the permitted address nor the permitted peer's registered endpoint
  | 'esp-rate-limited'; // the receiving client's bucket is empty

export const ESP_DROP_REASONS: readonly EspDropReason[] = [
  'esp-too-short', 'esp-unknown-spi', 'esp-unregistered', 'esp-no-permission', 'esp-rate-limited',
];

export type PermissionRefusal =
  | 'spi-conflict' // another client owns that SPI
  | 'permission-unregistered'; // the client holds no live RELAY_UDP_ESP registration

export const PERMISSION_REFUSALS: readonly PermissionRefusal[] = ['spi-conflict', 'permission-unregistered'];

export interface Permission {
  client: string; // canonical HIT text
  spi: number; // the client's inbound SPI (PEER_PERMISSION's connectedSpi)
  peerHit: string;
  address: string; // the peer's address as the client learned it (canonical text)
  port: number;
  installedAt: number;
}

export interface DataRelayOptions {
  registrations: RegistrationTable;
  /** Per receiving client: packets, and octets of ESP. */
  packetBucket?: BucketSpec;
  byteBucket?: BucketSpec;
  /** Permissions one client holds at most (oldest dropped first). */
  maxPermissionsPerClient?: number;
}

export type DataDecision =
  | { action: 'forward'; client: string; to: Endpoint; datagram: Uint8Array }
  | { action: 'drop'; reason: EspDropReason; detail: string };

// A relay forwards every packet of a relayed association, so the limits are set for bulk
// transfer (the goal: relayed TCP at half the direct throughput or better): 1 Gbit/s and
// 100 000 packets a second per client, bursts of 8 MB / 8192 packets. One relay process forwards
// about that much in all (measured on loopback: ~120 000 packets/s, native batched I/O), so a
// flooded client gets at most its share and the rest keep theirs.
const DEFAULT_PACKET_BUCKET: BucketSpec = { capacity: 8192, perSecond: 100_000 };
const DEFAULT_BYTE_BUCKET: BucketSpec = { capacity: 8 * 1024 * 1024, perSecond: 125_000_000 };
const DEFAULT_MAX_PERMISSIONS = 256;
/** SPI and sequence number (RFC 4303 §2). */
const ESP_HEADER_LENGTH = 8;

function canonicalAddress(address: string): string {
  const b = ipToBytes16(address);
  return b ? bytes16ToIp(b) : address;
}

export class DataRelay {
  /** Every permission by SPI: the demultiplexing table. */
  private readonly bySpi = new Map<number, Permission>();
  /** Per client, its permissions' SPIs in installation order (oldest first). */
  private readonly byClient = new Map<string, Set<number>>();
  private readonly packetBuckets = new Map<string, Bucket>();
  private readonly byteBuckets = new Map<string, Bucket>();
  readonly drops: Record<EspDropReason, number> = Object.fromEntries(ESP_DROP_REASONS.map((r) => [r, 0])) as Record<EspDropReason, number>;
  readonly refusals: Record<PermissionRefusal, number> = Object.fromEntries(PERMISSION_REFUSALS.map((r) => [r, 0])) as Record<PermissionRefusal, number>;
  /** Rate-limited drops per receiving client, so status can name the one being flooded. */
  readonly rateLimitedByClient = new Map<string, number>();
  readonly forwarded = { packets: 0, bytes: 0 };

  constructor(private readonly options: DataRelayOptions) {}

  private get packetSpec(): BucketSpec { return this.options.packetBucket ?? DEFAULT_PACKET_BUCKET; }
  private get byteSpec(): BucketSpec { return this.options.byteBucket ?? DEFAULT_BYTE_BUCKET; }

  private liveEsp(client: string, now: number): boolean {
    return this.options.registrations.lookup(client, RegistrationType.RELAY_UDP_ESP, now).status === 'registered';
  }

  /**
   * PEER_PERMISSIONs from an authenticated UPDATE of `clientHit`. Each is installed unless its
   * SPI belongs to another client; one for an SPI the client already permitted replaces it.
   */
  setPermissions(clientHit: Uint8Array | string, permissions: readonly PeerPermission[], now: number): { installed: Permission[]; refused: { spi: number; reason: PermissionRefusal }[] } {
    const result: { installed: Permission[]; refused: { spi: number; reason: PermissionRefusal }[] } = { installed: [], refused: [] };
    const client = canonicalHit(clientHit);
    if (client === null) return result;
    const refuse = (spi: number, reason: PermissionRefusal): void => {
      this.refusals[reason]++;
      result.refused.push({ spi, reason });
    };
    for (const p of permissions) {
      const spi = p.connectedSpi >>> 0;
      if (!this.liveEsp(client, now)) { refuse(spi, 'permission-unregistered'); continue; }
      const held = this.bySpi.get(spi);
      if (held && held.client !== client) { refuse(spi, 'spi-conflict'); continue; }
      const peerHit = canonicalHit(p.peerHit);
      if (peerHit === null) continue;
      const permission: Permission = { client, spi, peerHit, address: bytes16ToIp(p.address), port: p.port, installedAt: now };
      const spis = this.byClient.get(client) ?? new Set<number>();
      spis.delete(spi); // re-inserted last: Set order is the eviction order
      spis.add(spi);
      this.byClient.set(client, spis);
      this.bySpi.set(spi, permission);
      const max = this.options.maxPermissionsPerClient ?? DEFAULT_MAX_PERMISSIONS;
      while (spis.size > max) {
        const oldest = spis.values().next().value!;
        spis.delete(oldest);
        this.bySpi.delete(oldest);
      }
      result.installed.push(permission);
    }
    return result;
  }

  /** One ESP datagram (first octets the SPI) received on the relay port from `from`. Never throws on input. */
  handle(datagram: Uint8Array, from: Endpoint, now: number): DataDecision {
    if (datagram.length < ESP_HEADER_LENGTH) return this.drop('esp-too-short', `${datagram.length} octets`);
    const spi = ((datagram[0]! << 24) | (datagram[1]! << 16) | (datagram[2]! << 8) | datagram[3]!) >>> 0;
    const permission = this.bySpi.get(spi);
    if (!permission) return this.drop('esp-unknown-spi', `SPI 0x${spi.toString(16)}`);
    const client = permission.client;
    const registration = this.options.registrations.lookup(client, RegistrationType.RELAY_UDP_ESP, now);
    if (registration.status !== 'registered') return this.drop('esp-unregistered', `${client} holds no live RELAY_UDP_ESP registration`);
    if (!this.permitted(permission, from, now)) {
      return this.drop('esp-no-permission', `${from.address}:${from.port} is not permitted to reach ${client} on SPI 0x${spi.toString(16)}`);
    }
    if (!this.take(client, datagram.length, now)) {
      this.rateLimitedByClient.set(client, (this.rateLimitedByClient.get(client) ?? 0) + 1);
      return this.drop('esp-rate-limited', `${client}'s relay budget is spent`);
    }
    this.forwarded.packets++;
    this.forwarded.bytes += datagram.length;
    return { action: 'forward', client, to: { ...registration.registration.reflexive }, datagram };
  }

  private drop(reason: EspDropReason, detail: string): DataDecision {
    this.drops[reason]++;
    return { action: 'drop', reason, detail };
  }

  private permitted(permission: Permission, from: Endpoint, now: number): boolean {
    if (from.address === permission.address || canonicalAddress(from.address) === permission.address) return true;
    const source = endpointKey(from);
    // Per packet: a lookup per registration type, never a walk over every client.
    return Object.values(RegistrationType).some((type) => {
      const found = this.options.registrations.lookup(permission.peerHit, type, now);
      if (found.status !== 'registered') return false;
      const r = found.registration;
      return endpointKey(r.reflexive) === source || (r.movedFrom !== undefined && now < r.movedFrom.until && endpointKey(r.movedFrom.reflexive) === source);
    });
  }

  private take(client: string, bytes: number, now: number): boolean {
    const packets = this.packetBuckets.get(client) ?? fullBucket(this.packetSpec, now);
    const octets = this.byteBuckets.get(client) ?? fullBucket(this.byteSpec, now);
    this.packetBuckets.set(client, packets);
    this.byteBuckets.set(client, octets);
    // Octets are checked first and packets only spent when the octets were: a refusal spends nothing.
    if (refilled(packets, this.packetSpec, now) < 1) return false;
    if (!spend(octets, this.byteSpec, now, bytes)) return false;
    return spend(packets, this.packetSpec, now);
  }

  /** Forgets the permissions of clients whose RELAY_UDP_ESP registration lapsed or was cancelled, and refilled buckets. */
  prune(now: number): number {
    let removed = 0;
    for (const [client, spis] of this.byClient) {
      if (this.liveEsp(client, now)) continue;
      for (const spi of spis) this.bySpi.delete(spi);
      removed += spis.size;
      this.byClient.delete(client);
    }
    for (const [key, b] of this.packetBuckets) if (refilled(b, this.packetSpec, now) >= this.packetSpec.capacity) this.packetBuckets.delete(key);
    for (const [key, b] of this.byteBuckets) if (refilled(b, this.byteSpec, now) >= this.byteSpec.capacity) this.byteBuckets.delete(key);
    return removed;
  }

  /** A client's permissions, oldest first, for status. */
  permissionsOf(clientHit: Uint8Array | string): Permission[] {
    const client = canonicalHit(clientHit);
    const spis = client === null ? undefined : this.byClient.get(client);
    return spis ? [...spis].map((spi) => ({ ...this.bySpi.get(spi)! })) : [];
  }

  /** Every permission, for registrations.json: a restarted relay keeps relaying at once. */
  toJSON(): Permission[] {
    return [...this.byClient.values()].flatMap((spis) => [...spis].map((spi) => ({ ...this.bySpi.get(spi)! })));
  }

  /** Reinstalls toJSON()'s output read back from disk; malformed entries and clients without a live RELAY_UDP_ESP registration are skipped. */
  load(saved: unknown, now: number): number {
    if (!Array.isArray(saved)) return 0;
    let kept = 0;
    for (const e of saved as Partial<Permission>[]) {
      const address = typeof e?.address === 'string' ? ipToBytes16(e.address) : null;
      const peerHit = typeof e?.peerHit === 'string' ? textToHit(e.peerHit) : null;
      if (typeof e?.client !== 'string' || address === null || peerHit === null || typeof e.spi !== 'number' || !Number.isInteger(e.spi)
        || e.spi < 1 || e.spi > 0xffffffff || typeof e.port !== 'number' || !Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) continue;
      const r = this.setPermissions(e.client, [{ kind: 'PEER_PERMISSION', port: e.port, protocol: 0, address, peerHit, connectedSpi: e.spi }], now);
      kept += r.installed.length;
    }
    return kept;
  }

  /** Entries held, for status and for tests that the tables stay bounded. */
  tableSizes(): { permissions: number; buckets: number } {
    return { permissions: this.bySpi.size, buckets: this.packetBuckets.size + this.byteBuckets.size };
  }
}
