// Wires a DataplaneCore to real (or memory) devices: batches from the TUN are routed and sealed
// into per-socket transmit batches that go out in one call each; batches from the UDP sockets
// are opened into one TUN write batch. One wakeup, one crossing in each direction.

import type { DatagramSocket } from '../platform/fast-udp.js';
import { errnoName, unreachableDestination, type FastPathEvent, type NativeIo } from '../platform/native.js';
import type { TunDevice } from '../platform/tun.js';
import type { UdpEndpoint } from '../platform/udp.js';
import { rxPacket, TRUNCATED_FLAG, TxBatch } from '../base/batch.js';
import { ESP_SEQ_MAX } from '../esp/index.js';
import { DataplaneCore, type CoreEvent, type FlowRoute, type OutboundSealer, type PeerRoute, type SaInstall, type SaSpec } from './core.js';
import { NativeFastPath, nativeFlowRoute, type FastPathTuning } from './fastpath.js';
import { StrandedDatagrams } from './stranded.js';
import { SealedFlows } from './sealed-flows.js';
import { fromAddr16, same16, toAddr16 } from '../base/addr16.js';
import type { DataplaneCommands, DataplaneStats, VerifiedAddress } from './messages.js';
import { hitKey } from '../../src-shared/vocabulary.js';
import { combinedStats } from './runner-stats.js';
import { UdpSenders } from './udp-senders.js';
import { FastPathTakeUp } from './fastpath-takeup.js';
import { ReportLimits } from './report-limits.js';
import { FlowPairs } from './flow-pairs.js';

export interface RunnerOptions {
  ownHit: Uint8Array;
  ownLsi: number;
  tun: TunDevice;
  sockets: DatagramSocket[];
  now: () => number;
  onHip(packet: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void;
  onEvent(e: CoreEvent): void;
  onWarning(message: string): void;
  /**
   * Run established AES-GCM SAs in the native fast path (its own threads on the TUN and the
   * sockets, which then need native fds). Absent: every packet goes through the JS core.
   */
  fastPath?: { io: NativeIo; slotSize: number } & FastPathTuning;
}

const TUN_TX_PACKETS = 128;
const TUN_TX_BYTES = TUN_TX_PACKETS * 1600;
/** Punt batches one wake-up handles before yielding to the event loop. */
const PUNT_BATCHES_PER_WAKE = 16;
/** Socket index telling the fast path to hand a peer's packets to JS (native FP_SOCK_PUNT). */
const FAST_PATH_PUNT = -2;

export class DataplaneRunner implements DataplaneCommands {
  readonly core: DataplaneCore;
  private readonly tunTx = new TxBatch(TUN_TX_PACKETS, TUN_TX_BYTES);
  private readonly senders: UdpSenders;
  private readonly counts = { tunPacketsIn: 0, tunPacketsOut: 0, udpPacketsIn: 0 };
  private readonly limits: ReportLimits;
  private stopped = false;
  private fast: NativeFastPath | undefined;
  private wakeScheduled = false;
  /** Every socket by local address: the initial ones and those opened at run time (mobility). */
  private readonly sockets: DatagramSocket[];
  /** Sockets the fast path's threads poll, by its socket index; JS reads all others. */
  private fastSockets: (DatagramSocket | undefined)[] = [];
  /** Peers whose spare copies the JS core sends: their packets come up from the fast path meanwhile. */
  private readonly jsSpares = new Map<string, Uint8Array>();
  private readonly sealedFlows = new SealedFlows();
  /** The fast path's sealer of each peer whose base SA it holds (its further SAs share it). */
  private readonly offloaded = new Map<string, OutboundSealer>();
  /** Further outbound SAs the JS core holds while the fast path runs, by SPI → peer. */
  private readonly jsOutbound = new Map<number, string>();
  /**
   * The fast path's datagrams whose interface went down, and copies of what was sent to held
   * peers (both paths), re-sent once their peer moves.
   */
  private readonly stranded = new StrandedDatagrams();
  private readonly flowPairs = new FlowPairs(this.stranded, this.sealedFlows);
  /** Where what the fast path hands up is taken in (its punts, stranded datagrams and held copies). */
  private takeUp: FastPathTakeUp | undefined;
  /** Datagrams re-sent on a peer's new pair (stranded or held copies). */
  private resent = 0;
  /** Per peer, the addresses HIP verified and each one's outbound SPI (setVerifiedAddresses). */
  private readonly verified = new Map<string, { addr16: Uint8Array; port: number; spi: number }[]>();
  /** Each fast-path peer's bytesIn when its credit was last taken in (foldFastPathCredit). */
  private readonly fastBytesIn = new Map<string, number>();

  constructor(private readonly opts: RunnerOptions) {
    this.sockets = [...opts.sockets];
    this.core = new DataplaneCore(opts.ownHit, opts.ownLsi, {
      udp: (local, datagram, addr16, port) => this.senders.queue(local, datagram, addr16, port),
      tunReserve: (length) => this.reserveTun(length),
      tunCommit: (length) => void this.tunTx.commit(length),
      hip: (packet, from, to) => opts.onHip(packet, from, to),
      event: (e) => {
        if (e.type === 'esp-source') this.followHeld(e.peerHit, e.from, e.to);
        opts.onEvent(e);
      },
      hold: (local, datagram, addr16, port) => this.keepCopy(datagram, { local, addr16, port }, this.opts.now()),
    });
    this.senders = new UdpSenders(this.core.drops);
    for (const socket of opts.sockets) this.senders.add(socket);
    this.limits = new ReportLimits(this.core.drops);
  }

  locals(): UdpEndpoint[] {
    return this.sockets.map((s) => s.local);
  }

  /** Whether established AES-GCM SAs run in the native fast path. */
  get fastPathActive(): boolean {
    return this.fast !== undefined;
  }

  start(): void {
    if (this.opts.fastPath) {
      this.startFastPath(this.opts.fastPath);
      return;
    }
    this.opts.tun.start(
      (batch) => {
        if (this.stopped) return;
        const now = this.opts.now();
        this.counts.tunPacketsIn += batch.count;
        for (let i = 0; i < batch.count; i++) this.core.fromTun(rxPacket(batch, i), now);
        this.senders.flush();
      },
      (message) => this.warn(message),
    );
    for (const socket of this.sockets) this.readFromJs(socket);
  }

  /**
   * A socket for a local address that appeared at run time (mobility). Its packets are read
   * here; with the fast path running, ESP on its SAs is still opened by the fast path's tables
   * (fpProcessUdp), and a peer whose path uses this socket is sealed through fpSeal.
   */
  addSocket(socket: DatagramSocket): void {
    if (!this.senders.add(socket)) {
      socket.close();
      return;
    }
    this.sockets.push(socket);
    if (this.stopped) return;
    // In the fast path's poll set, the peers on this new uplink stay in C.
    const index = this.fast && socket.nativeFd !== undefined ? this.fast.addSocket(socket.nativeFd) : -1;
    if (index >= 0) this.fastSockets[index] = socket;
    else this.readFromJs(socket);
  }

  /** The address went away: stop sending from it. False when no socket had it. */
  removeSocket(address: string): boolean {
    const index = this.sockets.findIndex((s) => s.local.address === address);
    if (index < 0) return false;
    const [socket] = this.sockets.splice(index, 1);
    this.senders.remove(address);
    const fastIndex = this.fastSockets.indexOf(socket);
    if (fastIndex >= 0 && this.fast) {
      // Returns once neither packet thread can touch the fd: it may close now.
      this.fast.removeSocket(fastIndex);
      // What failed on it names it by index only: taken up while the index still has an address.
      this.takeStranded(this.opts.now());
      this.fastSockets[fastIndex] = undefined;
      socket!.close();
      this.senders.flush();
    } else {
      socket!.close();
    }
    return true;
  }

  private readFromJs(socket: DatagramSocket): void {
    const to = socket.local;
    socket.start(
      (batch) => {
        if (this.stopped) return;
        const now = this.opts.now();
        this.counts.udpPacketsIn += batch.count;
        for (let i = 0; i < batch.count; i++) {
          if (batch.lengths[i]! & TRUNCATED_FLAG) {
            this.core.drops['udp-truncated'] = (this.core.drops['udp-truncated'] ?? 0) + 1;
            continue;
          }
          const packet = rxPacket(batch, i);
          if (this.fast && this.openOnFastPath(packet)) continue;
          this.core.fromUdp(packet, batch.addrs16, i * 16, batch.ports[i]!, to, now);
        }
        this.flushTun();
        // Control replies or queued packets sealed while handling the batch.
        this.senders.flush();
      },
      (message, unreachable) => {
        this.warn(`UDP ${to.address}:${to.port}: ${message}`);
        if (unreachable) this.reportUnreachable(to, unreachable);
      },
    );
  }

  /** An ICMP destination-unreachable for what `local` sent to `remote`: a hint for the control plane. */
  private reportUnreachable(local: UdpEndpoint, remote: UdpEndpoint): void {
    if (this.limits.icmpError(this.opts.now())) this.opts.onEvent({ type: 'icmp-error', local: { ...local }, remote: { ...remote } });
  }

  /** ESP on an SA the fast path holds, arriving on a socket JS reads: true when handled there. */
  private openOnFastPath(packet: Uint8Array): boolean {
    if (packet.length < 8 || (packet[0]! | packet[1]! | packet[2]! | packet[3]!) === 0) return false;
    const r = this.opts.fastPath!.io.fpProcessUdp(this.fast!.handle, packet);
    if ('punt' in r) return false;
    if ('drop' in r) {
      this.core.drops[r.drop] = (this.core.drops[r.drop] ?? 0) + 1;
      return true;
    }
    if ('inner' in r) {
      const view = this.reserveTun(r.inner.length);
      if (!view) this.core.drops['tun-full'] = (this.core.drops['tun-full'] ?? 0) + 1;
      else {
        view.set(r.inner);
        this.tunTx.commit(r.inner.length);
      }
    }
    return true;
  }

  /**
   * The fast path reads the TUN and the sockets itself; what it cannot handle (HIP control,
   * unknown SPIs, peers without a fast SA) comes up here through onWake and goes through the
   * same JS core as without it.
   */
  private startFastPath(cfg: NonNullable<RunnerOptions['fastPath']>): void {
    const tunFd = this.opts.tun.nativeFd;
    this.fastSockets = [...this.sockets];
    const socketFds = this.sockets.map((s) => s.nativeFd);
    if (tunFd === undefined || socketFds.some((fd) => fd === undefined)) {
      throw new Error('the native fast path needs the native TUN and sockets');
    }
    const wake = (): void => {
      this.wakeScheduled = false;
      if (this.stopped || !this.fast || !this.takeUp) return;
      const takeUp = this.takeUp;
      for (const e of this.fast.poll()) this.onFastPathEvent(e);
      const now = this.opts.now();
      if (this.core.anyUnverified()) this.foldFastPathCredit(now);
      // First, so they go out before newer packets on the pair they move to.
      this.takeStranded(now);
      this.senders.flush();
      let batches = 0;
      for (; batches < PUNT_BATCHES_PER_WAKE; batches++) {
        const moreTun = takeUp.fromTun((packet) => this.core.fromTun(packet, now));
        const moreUdp = takeUp.fromUdp((packet, addrs16, at, port, socket) => {
          const to = this.fastSockets[socket]?.local;
          if (to) this.core.fromUdp(packet, addrs16, at, port, to, now);
        });
        this.flushTun();
        this.senders.flush();
        if (!moreTun && !moreUdp) break;
      }
      // Still more queued: continue after other work rather than hog the loop.
      if (batches === PUNT_BATCHES_PER_WAKE && !this.wakeScheduled) {
        this.wakeScheduled = true;
        setImmediate(wake);
      }
    };
    this.fast = NativeFastPath.create(cfg.io, {
      ...cfg, tunFd, socketFds: socketFds as number[], ownHit: this.opts.ownHit, ownLsi: this.opts.ownLsi, onWake: wake,
    });
    this.takeUp = new FastPathTakeUp(cfg.io, this.fast.handle, cfg.slotSize);
  }

  private onFastPathEvent(e: FastPathEvent): void {
    switch (e.type) {
      case 'esp-heard':
        this.opts.onEvent({ type: e.type, peerHit: new Uint8Array(e.hit) });
        return;
      case 'rekey-needed':
        this.opts.onEvent({ type: e.type, peerHit: new Uint8Array(e.hit), spi: e.spi });
        return;
      case 'esp-source': {
        const to = this.fastSockets[e.socket]?.local;
        if (!to) return;
        const from = { address: fromAddr16(new Uint8Array(e.address), 0), port: e.port };
        this.followHeld(e.hit, from, to);
        this.opts.onEvent({ type: 'esp-source', peerHit: new Uint8Array(e.hit), from, to, bytes: e.bytes });
        return;
      }
      case 'socket-error': {
        const local = this.fastSockets[e.socket]?.local;
        const icmp = e.origin >= 2 ? ` (ICMP type ${e.icmpType} code ${e.icmpCode})` : '';
        this.warn(`UDP ${local ? `${local.address}:${local.port}` : '?'}: ${errnoName(e.errno)}${icmp}`);
        const to = unreachableDestination(e);
        if (local && to) this.reportUnreachable(local, { address: fromAddr16(to.address), port: to.port });
        return;
      }
      case 'tun-error':
        this.warn(`TUN ${this.opts.tun.name}: ${errnoName(e.errno)}`);
        return;
    }
  }

  // ------------------------------------------------------------------------------------------
  // configuration from the control plane: the JS core always, the fast path when it can

  setRoutes(routes: PeerRoute[]): void {
    this.core.setRoutes(routes);
    this.fast?.setRoutes(routes);
  }

  installSa(i: SaInstall): void {
    const now = this.opts.now();
    const sealer = this.fast?.install(i, this.socketIndex(i.local));
    const key = hitKey(i.hit);
    if (sealer) this.offloaded.set(key, sealer);
    else this.offloaded.delete(key);
    this.sealedFlows.add(key, i.outbound, true);
    this.core.installSa(i, now, sealer);
    // A further SA in use, or copies to a spare, outlive the new base SA.
    this.syncFastPath(i.hit);
  }

  /**
   * A further SA pair of the peer (simultaneous multihoming). The fast path takes it when it
   * can (addSas); otherwise the JS core keeps it, and while it carries the peer's traffic the
   * fast path hands that traffic up (its inbound ESP, unknown there, comes up anyway).
   */
  addSas(hit: Uint8Array, outbound: SaSpec | undefined, inbound: SaSpec | undefined): void {
    const now = this.opts.now();
    const key = hitKey(hit);
    if (outbound) this.sealedFlows.add(key, outbound, false);
    const base = this.offloaded.get(key);
    const inFastPath = base !== undefined && this.fast !== undefined && this.fast.addSas(hit, outbound, inbound);
    this.core.addSas(hit, outbound, inbound, now, inFastPath ? base : undefined);
    if (this.fast && !inFastPath && outbound) this.jsOutbound.set(outbound.spi, key);
  }

  removeOutbound(hit: Uint8Array, spi: number): void {
    this.sealedFlows.remove(spi);
    this.core.removeOutbound(hit, spi);
    if (!this.jsOutbound.delete(spi)) this.fast?.removeOutbound(hit, spi);
    this.syncFastPath(hit);
  }

  promoteBase(hit: Uint8Array, spi: number): void {
    this.core.promoteBase(hit, spi);
    const key = hitKey(hit);
    // A JS-held SA as the new base: the fast path's base SA, if it had one, goes with the old.
    if (this.jsOutbound.delete(spi)) {
      if (this.offloaded.delete(key)) this.fast?.dropOutbound(hit);
    } else {
      this.fast?.promoteBase(hit, spi);
    }
    this.syncFastPath(hit);
  }

  testSeqRunOut(left: number): void {
    const nextSeq = ESP_SEQ_MAX - left + 1;
    for (const { hit, spi } of this.core.furtherSasInUse()) {
      const moved = this.fast?.setNextSeq(hit, spi, nextSeq) === true;
      // Each one said, outside the warnings' rate limit: a test hook must never act unseen.
      this.opts.onWarning(`test hook: outbound SA ${spi} of ${hitKey(hit)} ${moved ? `seals next with sequence number ${nextSeq}` : 'is not in the fast path; left as it is'}`);
    }
  }

  setPath(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, verified: boolean, outboundSpi?: number): void {
    const from = this.core.pathOf(hit);
    this.core.setPath(hit, remote, remoteAddr16, local, verified, outboundSpi);
    this.syncFastPath(hit);
    if (from === undefined) return;
    if (!verified) this.foldFastPathCredit(this.opts.now());
    const resend = this.stranded.moved(from, { local, addr16: remoteAddr16, port: remote.port }, this.opts.now());
    for (const d of resend) this.resend(local, d, remoteAddr16, remote.port);
    if (resend.length > 0) this.senders.flush();
  }

  /**
   * While on, the peer's pair is in doubt: copies of what is sent to it are kept, and re-sent
   * on the pair setPath moves it to. Off (the peer answered on the same pair) discards them.
   */
  setHeld(hit: Uint8Array, on: boolean): void {
    this.core.setHeld(hit, on);
    this.fast?.setHeld(hit, on);
    if (on) return;
    const path = this.core.pathOf(hit);
    if (path) this.stranded.release(path);
  }

  setVerifiedAddresses(hit: Uint8Array, addresses: VerifiedAddress[]): void {
    const list: { addr16: Uint8Array; port: number; spi: number }[] = [];
    for (const a of addresses) {
      const addr16 = toAddr16(a.remote.address);
      if (addr16 !== null) list.push({ addr16, port: a.remote.port, spi: a.spi });
    }
    this.verified.set(hitKey(hit), list);
  }

  /**
   * A held peer's authenticated ESP came from an address we are not sending to: its traffic and
   * what was held for it go there now, without the round trip through the engine, which moves
   * the same way while the pair is in doubt (RFC 8046 credit, HipHost.setPathInDoubt) and whose
   * next setPath confirms or corrects this one. ESP from where we send, reported because it
   * reached another of our sockets, moves nothing: that address is the one HIP verified.
   * An address HIP already verified takes the traffic as verified, on its own SA: charged to
   * credit, the held copies would spend what the peer's packet just earned, and the answer to
   * that packet (sent before the engine's setPath lands) would be refused.
   */
  private followHeld(hit: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void {
    if (!this.core.isHeld(hit)) return;
    const addr16 = toAddr16(from.address);
    if (addr16 === null) return;
    const path = this.core.pathOf(hit);
    if (path && path.port === from.port && same16(path.addr16, addr16)) return;
    // A flow's own pair (seed 002): the peer's packets there are that flow's, not the peer moving.
    if (this.flowPairs.isFlowRemote(hitKey(hit), addr16, from.port)) return;
    const known = this.verified.get(hitKey(hit))?.find((v) => v.port === from.port && same16(v.addr16, addr16));
    this.setPath(hit, from, addr16, to.address, known !== undefined, known?.spi);
  }

  /**
   * The fast path opens the ESP of the peers it holds: what they sent since the last call earns
   * credit in the JS core, which pays for everything sent to an unverified address (the fast
   * path hands such a peer's packets up, see syncFastPath).
   */
  private foldFastPathCredit(now: number): void {
    if (!this.fast) return;
    for (const p of this.fast.stats({ flows: false }).peers) {
      const key = hitKey(p.hit);
      const earned = p.bytesIn - (this.fastBytesIn.get(key) ?? 0);
      this.fastBytesIn.set(key, p.bytesIn);
      if (earned > 0) this.core.earnCredit(p.hit, earned, now);
    }
  }

  /**
   * For `forMs`, every datagram sealed for the peer also goes to this second pair (the same
   * bytes: the peer's anti-replay window drops the later copy); 0 stops. The fast path sends
   * the copies of what it seals when it can; otherwise (a spare socket only JS reads) the
   * peer's packets come up to the JS core for the window.
   */
  setSpare(hit: Uint8Array, remote: UdpEndpoint, remoteAddr16: Uint8Array, local: string, forMs: number): void {
    const now = this.opts.now();
    this.core.setSpare(hit, remote, remoteAddr16, local, now + forMs, now);
    if (!this.fast) return;
    const key = hitKey(hit);
    const index = this.socketIndex(local);
    if (index !== FAST_PATH_PUNT) {
      this.fast.setSpare(hit, forMs > 0 ? remoteAddr16 : null, remote.port, index, forMs);
      if (this.jsSpares.delete(key)) this.syncFastPath(hit);
      return;
    }
    if (forMs > 0 && this.core.spareOf(hit, now)) {
      this.jsSpares.set(key, hit.slice());
      this.syncFastPath(hit);
    } else if (this.jsSpares.delete(key)) {
      this.syncFastPath(hit);
    }
  }

  /**
   * Tells the fast path the peer's pair and SA as the JS core has them; its packets come up to
   * JS instead while the JS core sends copies or seals with an SA only it holds.
   */
  private syncFastPath(hit: Uint8Array): void {
    const path = this.core.pathOf(hit);
    const spi = this.core.outboundSpiOf(hit);
    if (!this.fast || !path || spi === undefined) return;
    const setPath = this.fast.setPath.bind(this.fast);
    const jsSends = this.jsSpares.has(hitKey(hit)) || this.jsOutbound.has(spi) || this.core.isUnverified(hit);
    if (jsSends) setPath(hit, path.addr16, path.port, FAST_PATH_PUNT);
    else setPath(hit, path.addr16, path.port, this.socketIndex(path.local), spi);
  }

  /** Takes up the fast path's failed sends and held copies, each filed under the pair it was sent on. */
  private takeStranded(now: number): void {
    this.takeUp?.stranded((datagram, socket, addr16, port, held) => {
      const local = this.fastSockets[socket]?.local.address;
      if (local === undefined) return;
      if (held) this.keepCopy(datagram, { local, addr16, port }, now);
      else this.strand(datagram, { local, addr16, port }, now);
    });
  }

  /** A sealed datagram the fast path could not send (its interface went down): follows its peer. */
  private strand(datagram: Uint8Array, path: { local: string; addr16: Uint8Array; port: number }, now: number): void {
    const to = this.stranded.strand(datagram, path, now);
    if (to) this.resend(to.local, datagram, to.addr16, to.port);
  }

  /** A copy of a datagram sent to a held peer: kept, or re-sent at once when the peer already moved. */
  private keepCopy(datagram: Uint8Array, path: { local: string; addr16: Uint8Array; port: number }, now: number): void {
    const to = this.stranded.hold(datagram, path, now);
    if (to) this.resend(to.local, datagram, to.addr16, to.port);
  }

  private resend(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): void {
    if (!this.core.spendCreditTo(addr16, port, datagram.length, this.opts.now())) return;
    this.resent++;
    this.sendOrDrop(local, datagram, addr16, port);
  }

  private sendOrDrop(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): void {
    if (!this.senders.queue(local, datagram, addr16, port)) this.core.drops['udp-send-failed'] = (this.core.drops['udp-send-failed'] ?? 0) + 1;
  }

  /**
   * Per-flow steering: both sealers classify, the JS core for what it seals (spares, held or
   * unverified peers, SAs only JS holds) and the native fast path for the rest, each with the
   * same routes (a route on a socket only JS reads is left to JS: the fast path punts it).
   */
  setFlowRoutes(hit: Uint8Array, routes: FlowRoute[]): void {
    this.core.setFlowRoutes(hit, routes);
    this.fast?.setFlowRoutes(hit, routes.map((r) => nativeFlowRoute(r, this.socketIndex(r.local))));
    this.syncFastPath(hit);
    const resend = this.flowPairs.setRoutes(hitKey(hit), routes, this.core.pathOf(hit), this.opts.now());
    for (const { to, datagram } of resend) this.resend(to.local, datagram, to.addr16, to.port);
    if (resend.length > 0) this.senders.flush();
  }

  retireInbound(spi: number, afterMs: number): void {
    this.core.retireInbound(spi, this.opts.now() + afterMs);
    this.fast?.retireInbound(spi, afterMs);
  }

  dropSas(hit: Uint8Array): void {
    const key = hitKey(hit);
    this.offloaded.delete(key);
    this.jsSpares.delete(key);
    this.verified.delete(key);
    this.flowPairs.forget(key);
    this.sealedFlows.forget(key);
    for (const [spi, k] of this.jsOutbound) if (k === key) this.jsOutbound.delete(spi);
    // What was held for the association goes with it; the next one starts without doubt.
    this.setHeld(hit, false);
    this.core.dropSas(hit);
    this.fast?.dropSas(hit);
  }

  tick(now: number): void {
    this.core.tick(now);
    this.fast?.tick();
    // Credit ages from when it was earned: take in what the fast path opened at least this often.
    this.foldFastPathCredit(now);
    // A spare window the JS core served is over: the peer's packets go back to the fast path.
    for (const [key, hit] of this.jsSpares) {
      if (this.core.spareOf(hit, now)) continue;
      this.jsSpares.delete(key);
      this.syncFastPath(hit);
    }
  }

  /**
   * Index of the fast path's socket bound to `local`; a socket only JS reads makes the fast
   * path hand the peer's packets up (FAST_PATH_PUNT); -1 lets it pick one of the family.
   */
  private socketIndex(local: string): number {
    const socket = this.senders.socketOf(local);
    const index = socket === undefined ? -1 : this.fastSockets.indexOf(socket);
    if (index >= 0) return index;
    return socket !== undefined ? FAST_PATH_PUNT : -1;
  }

  sendPayload(hit: Uint8Array, payload: Uint8Array, nextHeader: number): void {
    this.core.sendPayload(hit, payload, nextHeader, this.opts.now());
    this.senders.flush();
  }

  /** Sends one ready datagram (a HIP control packet from the engine) at once. */
  sendDatagram(local: string, datagram: Uint8Array, addr16: Uint8Array, port: number): boolean {
    if (!this.senders.queue(local, datagram, addr16, port)) return false;
    this.senders.flush();
    return true;
  }

  /** Counters of the JS core and, added in, the fast path's. */
  stats(now: number): DataplaneStats {
    const counts = { ...this.counts, udpPacketsOut: this.senders.packetsOut };
    return combinedStats({ core: this.core, fast: this.fast?.stats(), counts, stranded: this.stranded, resent: this.resent }, now);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    // The fast path's threads use the fds: join them before the fds close.
    this.fast?.stop();
    this.opts.tun.close();
    for (const s of this.sockets) s.close();
  }

  /** Room for one packet in the TUN write batch, written out first when full; null when none. */
  private reserveTun(length: number): Uint8Array | null {
    const view = this.tunTx.reserve(length);
    if (view) return view;
    this.flushTun();
    return this.tunTx.reserve(length);
  }

  private flushTun(): void {
    if (this.tunTx.count === 0) return;
    const written = this.opts.tun.write(this.tunTx);
    this.counts.tunPacketsOut += written;
    if (written < this.tunTx.count) this.core.drops['tun-write-failed'] = (this.core.drops['tun-write-failed'] ?? 0) + this.tunTx.count - written;
    this.tunTx.clear();
  }

  private warn(message: string): void {
    if (this.limits.warning(this.opts.now())) this.opts.onWarning(message);
  }
}
