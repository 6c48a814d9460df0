// `hipvpn serve`: one host's engine with its identity and peer list from the state dir, the
// control socket that the CLI (and later the Electron UI) drive it through, and a log line for
// everything that happens. The daemon owns the peer list: changes arriving over the socket are
// applied to the engine at once and written to peers.json before they are acknowledged.

import {
  FailoverError, HipEngine, PingError, type EngineEvent, type LocalLocatorInput, type PeerConfig as EnginePeer,
} from '../engine/engine.js';
import type { PeerFlowBinding } from '../core/host-core.js';
import type { MultihomingMode } from '../hip/host.js';
import type { MonitoredLocator } from '../mobility/local-addresses.js';
import { InterfaceMonitor } from '../platform/interface-monitor.js';
import { SocketDrops } from '../platform/socket-drops.js';
import { SerialQueue } from '../platform/state-file.js';
import { handoverCause } from './handover-cause.js';
import type {
  AssociationState, ControlEvent, ControlHandlers, DaemonStatus, HandoverRecord, PeerConfig, RelayConfig, ResultOf, Uplink,
} from '../../src-shared/control-api.js';
import { endpointText } from '../../src-shared/status-format.js';
import { ApiError } from '../../src-shared/control-error.js';
import type { ControlServer } from './control-server.js';
import { errorText } from '../base/errors.js';
import { eventLine, logLine } from './event-log.js';
import { findPeer, normalizePeer, parseHit, parsePeerRef, withPeer } from './peer-input.js';
import { engineRelays, relaysForRun } from './relays.js';
import { savePeers } from './peer-store.js';
import type { StateDir } from './state-dir.js';
import { openDaemonState } from './daemon-state.js';
import { startEngine, startEngineOnUsableAddresses } from './engine-start.js';
import { hostname } from 'node:os';
import { SettingsControl } from './settings-control.js';
import { InviteBook, defaultInviteeName } from './invite-book.js';
import type { InviteHooks } from '../hip/invite-proof.js';
import { engineTuning, tuningChanges, type EngineTuning } from './settings-tuning.js';
import { ConnectAttempts, KEYED_STATES } from './connect-attempts.js';
import { daemonStatus, pairRefOf, uplinksOf } from './status-view.js';

export interface DaemonOptions {
  stateDir: string;
  /** UDP port for HIP and ESP; 0 picks a free one (tests). */
  port: number;
  /** Local addresses to listen on, one socket each. */
  listen: string[];
  /**
   * The addresses were picked from the interfaces, not named by the user: one that cannot be
   * bound yet (an IPv6 address still in duplicate address detection) is skipped with a warning.
   */
  listenIsDefault?: boolean;
  /** TUN device to carry traffic through; null runs the control plane only (no traffic, no root). */
  tun: string | null;
  /** Create the TUN if it does not exist (needs root); otherwise attach to one `hipvpn setup` made. */
  createTun: boolean;
  acceptAny: boolean;
  /**
   * Follow the interfaces (rtnetlink): locators and their sockets come and go with the
   * addresses. Default: when the addresses were not named (`listenIsDefault`).
   */
  monitorInterfaces?: boolean;
  /** How several local locators are used (default fault tolerance). */
  multihoming?: MultihomingMode;
  log: (line: string) => void;
  /** Set by start(): the state dir's invites, answering the host's invite hooks. */
  inviteHooks?: InviteHooks;
  /** `--relay`: relays for this run, added to the `relays` setting. */
  relays?: RelayConfig[];
  /** What `--relay` gave, kept apart from `relays` (the run's whole list) to rebuild that list. */
  commandLineRelays?: RelayConfig[];
}

/** Handovers kept for `handover.list`. */
const HANDOVER_HISTORY = 1_000;

/** How long `ping` waits for a base exchange it had to start before it sends the probe. */
const PING_DEFAULT_TIMEOUT_MS = 5000;
/**
 * A second "fail over" for the same peer this soon after the first is the same request (a
 * double-click, a client's retry): it answers with the first's handovers and moves nothing.
 * A person who means "move again" waits longer than this.
 */
const FAILOVER_REPEAT_MS = 1500;

function toEnginePeer(p: PeerConfig): EnginePeer {
  const hit = parseHit(p.hit);
  if (!hit.ok) throw new Error(`peer ${p.name}: ${hit.error}`); // normalizePeer ran before; cannot happen
  return {
    name: p.name, hit: hit.value, locators: p.locators.map((l) => ({ address: l.address, port: l.port })),
    ...(p.relay ? { relay: engineRelays([p.relay])[0]! } : {}),
  };
}

export class Daemon {
  private peers: PeerConfig[];
  private readonly startedAt = performance.now();
  /** Per peer HIT, the last `failover` without a target pair: when, and the handovers it made. */
  private readonly lastFailover = new Map<string, { at: number; handovers: HandoverRecord[] }>();
  private readonly attempts = new ConnectAttempts();
  private stopping: Promise<void> | undefined;
  private readonly handovers: HandoverRecord[] = [];
  private handoverSeq = 0;
  private readonly socketDrops = new SocketDrops();
  /**
   * Changes to the peer list, one at a time: each reads the list, saves the next one and only
   * then takes it, so two at once would each save a list without the other's peer.
   */
  private readonly peerChanges = new SerialQueue();
  private readonly eventListeners = new Set<(e: ControlEvent) => void>();
  /**
   * The control API served by this daemon: its socket, and in-process by a UI hosting it
   * (Electron's IPC, `hipvpn web --serve`). Params arrive checked by the transport.
   */
  readonly handlers: ControlHandlers;

  private constructor(
    private readonly opts: DaemonOptions,
    private readonly dir: StateDir,
    private readonly engine: HipEngine,
    peers: PeerConfig[],
    private readonly control: ControlServer,
    private readonly monitor: InterfaceMonitor | undefined,
    /** Settings, flow bindings and the tunnel switch (settings-control.ts). */
    private readonly settingsControl: SettingsControl,
    private readonly invites: InviteBook,
  ) {
    this.peers = peers;
    this.handlers = this.controlHandlers();
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    // The peer list is the allow-list; the control socket keeps a second daemon on this identity
    // from starting an engine whose base exchanges would replace the first one's associations.
    const state = await openDaemonState(opts.stateDir, 'daemon', opts.log);
    const { dir, identity, peers, control } = state;
    let daemon: Daemon | undefined;
    let engine: HipEngine;
    let monitor: InterfaceMonitor | undefined;
    let initial: readonly MonitoredLocator[] = [];
    let settingsControl: SettingsControl;
    let invites: InviteBook;
    try {
      settingsControl = await SettingsControl.open(dir.root, opts.log);
      // The command line's mode wins; otherwise the user's setting (load-sharing → an SA pair per
      // uplink, RFC 8047 §4.1). The host takes its mode at start: a change applies from the next.
      opts = { ...opts, multihoming: opts.multihoming ?? engineTuning(settingsControl.settings.get()).multihoming };
      // The relays setting, --relay and the peers' relays together (applyRelays when one changes).
      opts = { ...opts, commandLineRelays: opts.relays ?? [], relays: relaysForRun(settingsControl.settings.get().relays, opts.relays ?? [], peers) };
      invites = await InviteBook.open(dir.root);
      opts = { ...opts, inviteHooks: invites.hooks((peer) => void daemon?.admitInvitee(peer)) };
      if (opts.monitorInterfaces ?? opts.listenIsDefault === true) {
        monitor = new InterfaceMonitor({ policy: { ownTunnels: opts.tun === null ? ['hip0'] : [opts.tun, 'hip0'] } });
        initial = (await monitor.start()).filter((l) => l.available);
        if (initial.length === 0) {
          // Nothing but loopback (a bare namespace): serve it, as before, without following changes.
          opts.log(logLine('warning', { message: 'no network interface with a usable address; listening on the default addresses without following interface changes' }));
          await monitor.stop();
          monitor = undefined;
        }
      }
      engine = monitor === undefined
        ? await startEngineOnUsableAddresses(opts, identity)
        : await startEngine({ ...opts, listen: initial.map((l) => l.address) }, identity, Object.fromEntries(initial.map((l) => [l.address, l.ifname])));
    } catch (err) {
      await monitor?.stop();
      await control.close();
      throw err;
    }
    const ready = new Daemon(opts, dir, engine, peers, control, monitor, settingsControl, invites);
    settingsControl.attach({
      emit: (e) => ready.emitEvent(e),
      peerNames: () => ready.peers.map((p) => p.name),
      flowsChanged: () => ready.applyFlows(),
      // Off = the engine knows no peer: nothing to connect to (on demand or not), none admitted.
      applyPeers: () => engine.setPeers(settingsControl.tunnel.peersForEngine(ready.peers).map(toEnginePeer)),
      closeAll: () => {
        for (const a of engine.snapshot().associations) {
          const hit = parseHit(a.peer);
          if (hit.ok && !engine.isRelay(a.peer)) engine.close(hit.value);
        }
      },
    });
    engine.on('event', (e: EngineEvent) => ready.onEngineEvent(e));
    // The user's settings steer the engine from the start, and again whenever they change.
    const applyTuning = (t: EngineTuning, changed: ReturnType<typeof tuningChanges> | 'all'): void => {
      if (changed === 'all' || changed.includes('keepalive') || changed.includes('detection')) engine.setDetectionPolicy(t.detection);
      if (changed === 'all' || changed.includes('interfaces')) monitor?.setPolicy({ preference: t.kindPreference });
      // Which uplinks are metered rides on each locator, so pair selection re-ranks its pairs.
      if (changed !== 'all' && changed.includes('metered') && monitor !== undefined) engine.setLocalLocators(monitor.locators().map(asInput));
    };
    const asInput = (l: MonitoredLocator): LocalLocatorInput => locatorInput(l, settingsControl.settings.get().meteredInterfaces);
    applyTuning(engineTuning(settingsControl.settings.get()), 'all');
    settingsControl.settings.subscribe((next, previous) => {
      const t = engineTuning(next);
      applyTuning(t, tuningChanges(t, engineTuning(previous)));
      if (JSON.stringify(next.relays) !== JSON.stringify(previous.relays)) daemon?.applyRelays();
    });
    if (monitor !== undefined) {
      engine.setLocalLocators(monitor.locators().map(asInput));
      monitor.on('change', (change) => {
        opts.log(logLine('locators', {
          causes: change.causes.map((c) => `${c.type}:${c.address}@${c.ifname}${c.detail ? `(${c.detail})` : ''}`).join(','),
          now: change.locators.filter((l) => l.operational).map((l) => `${l.address}@${l.ifname}`).join(',') || null,
        }));
        engine.setLocalLocators(change.locators.map(asInput), change.causes);
      });
      monitor.on('warning', (message) => opts.log(logLine('warning', { message })));
    }
    // Right after start, before the event loop turns: no HIP packet has been handled yet, so
    // the allow-list governs the very first base exchange. (Without a TUN the engine admits
    // everyone until setPeers; with several --listen addresses a packet on the first socket
    // could in principle arrive while later ones bind. EngineOptions taking the initial peers
    // would close that gap.)
    engine.setPeers(settingsControl.tunnel.peersForEngine(peers).map(toEnginePeer));
    ready.applyFlows();
    daemon = ready;
    state.serve(ready.handlers);
    opts.log(logLine('listening', {
      hit: engine.hitText, lsi: engine.lsi,
      udp: engine.locals().map(endpointText).join(','),
      tun: opts.tun ?? 'none', acceptAny: opts.acceptAny, peers: peers.length, control: dir.socket,
      relays: (opts.relays ?? []).map((r) => r.name ?? r.hit).join(',') || null,
    }));
    return daemon;
  }

  /** Test hook (test-hooks.ts, HIPVPN_TEST_SEQ_LEFT): logged, then carried out by the engine. */
  testSeqRunOut(left: number): void {
    this.opts.log(logLine('test-hook', { hook: 'seq-run-out', left }));
    this.engine.testSeqRunOut(left);
  }

  /** Closes every association (the peers see CLOSE), then the sockets. Safe to call twice. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.opts.log(logLine('stopping', { reason }));
      await this.monitor?.stop();
      await this.engine.stop();
      await this.control.close();
      this.opts.log(logLine('stopped'));
    })();
    return this.stopping;
  }

  // -------------------------------------------------------------------------------------------
  // Events

  private nameOf(hit: string): string | null {
    return this.peers.find((p) => p.hit === hit)?.name ?? null;
  }

  /** Events as the control socket's subscribers get them, for a UI hosting this daemon. */
  onEvent(listener: (e: ControlEvent) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  private emitEvent(e: ControlEvent): void {
    this.opts.log(eventLine(e));
    this.control.broadcast(e);
    for (const l of this.eventListeners) l(e);
  }

  private onEngineEvent(e: EngineEvent): void {
    if (e.type === 'payload') return; // data, not an event: the tunnel carries it
    if (e.type === 'warning') {
      this.opts.log(logLine('warning', { message: e.message }));
      return;
    }
    if (e.type === 'relay-registration') {
      const relay = this.relayByHit(e.relay);
      this.opts.log(logLine('relay', {
        relay: relay?.name ?? e.relay, registered: e.registered,
        reflexive: relay?.reflexive ? endpointText(relay.reflexive) : null, relayed: relay?.relayed ? endpointText(relay.relayed) : null,
      }));
      return;
    }
    if (e.type === 'offer') {
      const relay = this.relayByHit(e.relay);
      this.opts.log(logLine('offer', { peer: this.nameOf(e.peer) ?? e.peer, relay: relay?.name ?? e.relay }));
      return;
    }
    const ref = { peer: this.nameOf(e.peer), hit: e.peer };
    switch (e.type) {
      case 'association':
        this.attempts.stateChanged(e.peer, e.to, performance.now());
        this.emitEvent({ type: 'association', ...ref, from: e.from as AssociationState, to: e.to as AssociationState });
        return;
      case 'established':
        this.attempts.forget(e.peer);
        this.emitEvent({ type: 'established', ...ref, local: e.local, remote: e.remote, initiator: e.initiator });
        // The tunnel is off (an --accept-any stranger, or an exchange that was under way): close it
        // again. A relay's stays: it carries no traffic, and the registration keeps us findable.
        if (this.settingsControl.tunnel.closeWhileDown && !this.engine.isRelay(e.peer)) {
          const hit = parseHit(e.peer);
          if (hit.ok) this.engine.close(hit.value);
        }
        return;
      case 'rekeyed':
        this.emitEvent({ type: 'rekeyed', ...ref });
        return;
      case 'closed':
        this.attempts.forget(e.peer);
        this.emitEvent({ type: 'closed', ...ref, byPeer: e.byPeer });
        return;
      case 'failed':
        this.attempts.failed(e.peer, e.reason, performance.now());
        this.emitEvent({ type: 'failed', ...ref, reason: e.reason });
        return;
      case 'notify':
        this.emitEvent({ type: 'notify', ...ref, notifyType: e.notifyType, authenticated: e.authenticated });
        return;
      case 'handover': {
        const cause = handoverCause(e);
        // Only where the cause groups several: which detector failed the pair, why HIP moved.
        const detail = e.hipCause ?? (cause === 'pair-failed' ? e.cause : undefined);
        const relays = this.engine.snapshot().relays;
        const record: HandoverRecord = {
          seq: ++this.handoverSeq, at: Date.now(), peer: ref.peer, hit: e.peer, cause,
          from: e.from === null ? null : pairRefOf(e.from, relays), to: pairRefOf(e.to, relays), gapMs: Math.max(0, Math.round(e.gapMs)),
          ...(detail === undefined ? {} : { detail }),
        };
        this.handovers.push(record);
        if (this.handovers.length > HANDOVER_HISTORY) this.handovers.shift();
        this.emitEvent({ type: 'handover', handover: record });
        return;
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Control API

  private controlHandlers(): ControlHandlers {
    return {
      status: async () => this.status(),
      'peer.list': async () => ({ peers: this.peers }),
      'peer.add': (peer) => this.peerChanges.run(() => this.addPeer(peer)),
      'peer.remove': ({ name }) => this.peerChanges.run(() => this.removePeer(name)),
      'invite.create': ({ name, expiresSeconds }) => this.createInvite(name, expiresSeconds),
      'invite.accept': ({ text, name }) => this.acceptInvite(text, name),
      'invite.status': async () => ({ pending: this.invites.pendingCount(), 'invite-proof': this.invites.proofs, 'invite-refused': this.invites.refused }),
      ping: ({ peer, timeoutMs }) => this.ping(peer, timeoutMs ?? PING_DEFAULT_TIMEOUT_MS),
      failover: async ({ peer }) => this.failover(peer, undefined),
      'pair.use': async ({ peer, local, remote }) => this.usePair(peer, local, remote),
      'interfaces.recheck': async () => {
        if (!this.monitor) throw new ApiError('not-supported', 'this daemon listens on fixed addresses (--listen); it does not follow the interfaces');
        this.monitor.recheck('recheck');
        return { interfaces: this.interfaces() };
      },
      'handover.list': async ({ afterSeq }) => ({ handovers: this.handovers.filter((h) => h.seq > (afterSeq ?? 0)) }),
      subscribe: async (_params, session) => {
        session.subscribe();
        return { subscribed: true };
      },
      ...this.settingsControl.handlers,
      'relay.status': () => Promise.reject(new ApiError('not-supported', 'relay.status is not implemented by this engine yet')),
    };
  }

  private async setPeers(next: PeerConfig[]): Promise<void> {
    // Persist first: a change the daemon acknowledged must survive a crash right after.
    await savePeers(this.dir.peers, next);
    this.peers = next;
    this.engine.setPeers(this.settingsControl.tunnel.peersForEngine(next).map(toEnginePeer));
    this.applyFlows();
    this.emitEvent({ type: 'peers', peers: next });
  }

  /** The flow bindings to the engine, by peer HIT (a binding to a peer no longer listed steers nothing). */
  private applyFlows(): void {
    const hitOf = new Map(this.peers.map((p) => [p.name, p.hit]));
    const bindings: PeerFlowBinding[] = [];
    for (const b of this.settingsControl.flows.table.list()) {
      const hit = parseHit(hitOf.get(b.peer) ?? '');
      if (hit.ok) bindings.push({ peerHit: hit.value, fid: b.fid, selector: b.selector, interface: b.interface, ...(b.policy !== undefined ? { policy: b.policy } : {}) });
    }
    this.engine.setFlowBindings(bindings);
  }

  private async addPeer(raw: PeerConfig): Promise<ResultOf<'peer.add'>> {
    const peer = normalizePeer(raw);
    if (!peer.ok) throw new ApiError('invalid-params', peer.error);
    if (peer.value.hit === this.engine.hitText) throw new ApiError('invalid-params', `${peer.value.hit} is this host's own HIT`);
    const next = withPeer(this.peers, peer.value);
    if (!next.ok) throw new ApiError('conflict', next.error);
    await this.setPeers(next.value.peers);
    const relay = peer.value.relay;
    if (relay !== undefined && !this.engine.isRelay(relay.hit)) this.applyRelays();
    return { peer: peer.value, replaced: next.value.replaced };
  }

  /**
   * The relays setting changed, or a peer names a relay we do not use yet: the run's list is
   * made again (setting, then --relay, then the peers' relays) and the engine registers with new
   * relays at once and lets go of dropped ones. A list that does not check out changes nothing.
   */
  applyRelays(): void {
    let relays: RelayConfig[];
    try {
      relays = relaysForRun(this.settingsControl.settings.get().relays, this.opts.commandLineRelays ?? [], this.peers);
    } catch (err) {
      this.opts.log(logLine('warning', { message: errorText(err) }));
      return;
    }
    this.engine.setRelays(engineRelays(relays));
    this.opts.log(logLine('relays', { now: relays.map((r) => r.name ?? r.hit).join(',') || null }));
  }

  private async createInvite(inviteeName: string | undefined, expiresSeconds: number | undefined): Promise<ResultOf<'invite.create'>> {
    const name = hostPeerName();
    const relay = this.engine.snapshot().relays.find((r) => r.registered);
    return this.invites.create({
      hit: this.engine.hitText, name, inviteeName: inviteeName ?? defaultInviteeName(),
      locators: this.engine.locals().filter((l) => l.address !== '0.0.0.0' && l.address !== '::'),
      // Behind a NAT our locators reach nobody: the invitee finds us through our relay.
      ...(relay === undefined ? {} : { relay: { hit: relay.hit, address: relay.address, port: relay.port } }),
      ...(expiresSeconds === undefined ? {} : { expiresSeconds }),
    });
  }

  private async acceptInvite(text: string, name: string | undefined): Promise<ResultOf<'invite.accept'>> {
    let peer: PeerConfig;
    try {
      peer = await this.invites.accept(text, name);
    } catch (err) {
      throw new ApiError('invalid-params', errorText(err));
    }
    return { peer: (await this.peerChanges.run(() => this.addPeer(peer))).peer };
  }

  /** A verified invite proof admitted this HIT: it becomes a peer, saved like any other. */
  private async admitInvitee(peer: PeerConfig): Promise<void> {
    try {
      await this.peerChanges.run(() => {
        const taken = this.peers.some((p) => p.name === peer.name && p.hit !== peer.hit);
        return this.addPeer(taken ? { ...peer, name: `${peer.name}-${peer.hit.slice(-4).replace(/:/g, '')}` } : peer);
      });
      this.opts.log(logLine('invite-redeemed', { peer: peer.name, hit: peer.hit }));
    } catch (err) {
      this.opts.log(logLine('warning', { message: `invite redeemed by ${peer.hit} but the peer could not be saved: ${errorText(err)}` }));
    }
  }

  private async removePeer(name: string): Promise<ResultOf<'peer.remove'>> {
    const removed = this.peers.find((p) => p.name === name);
    if (!removed) throw new ApiError('unknown-peer', unknownPeerMessage(name, this.peers));
    await this.setPeers(this.peers.filter((p) => p !== removed));
    this.attempts.forget(removed.hit);
    // Off the allow-list means no tunnel either: close what is up rather than wait for it to age out.
    const hit = parseHit(removed.hit);
    if (hit.ok) this.engine.close(hit.value);
    return { removed };
  }

  /** One of this run's relays, by its HIT as text. */
  private relayByHit(hit: string): ReturnType<HipEngine['snapshot']>['relays'][number] | undefined {
    return this.engine.snapshot().relays.find((r) => r.hit === hit);
  }

  private status(): DaemonStatus {
    const now = performance.now();
    return daemonStatus({
      engine: this.engine, snap: this.engine.snapshot(), now, peers: this.peers, attempts: this.attempts,
      uplinks: this.monitor ? this.interfaces() : undefined, settings: this.settingsControl,
      run: { tun: this.opts.tun, acceptAny: this.opts.acceptAny, uptimeMs: Math.round(now - this.startedAt), socketDrops: this.socketDrops.total(now) },
    });
  }

  /** Our uplinks as the interface monitor sees them, best first. */
  private interfaces(): Uplink[] {
    return uplinksOf(this.monitor?.locators() ?? [], this.settingsControl.settings.get().meteredInterfaces);
  }

  /** Resolves a peer by name or HIT: configured peers first, then unlisted associations. */
  private resolvePeer(nameOrHit: string): { name: string | null; hit: string; config: PeerConfig | undefined } {
    const ref = parsePeerRef(nameOrHit);
    if (!ref.ok) throw new ApiError('invalid-params', ref.error);
    const config = findPeer(this.peers, nameOrHit);
    if (config) return { name: config.name, hit: config.hit, config };
    const hit = ref.value.kind === 'hit' ? ref.value.hit : undefined;
    if (hit !== undefined && this.engine.snapshot().associations.some((a) => a.peer === hit)) return { name: null, hit, config: undefined };
    throw new ApiError('unknown-peer', unknownPeerMessage(nameOrHit, this.peers));
  }

  private async ping(nameOrHit: string, timeoutMs: number): Promise<ResultOf<'ping'>> {
    const { name, hit, config } = this.resolvePeer(nameOrHit);
    const label = name ?? hit;
    if (!this.settingsControl.tunnel.up) throw new ApiError('not-connected', `the tunnel is off, so there is no association with ${label}; press Connect first`);
    const hitBytes = parseHit(hit);
    if (!hitBytes.ok) throw new ApiError('invalid-params', hitBytes.error);
    const deadline = performance.now() + timeoutMs;
    const stateOf = (): string | undefined => this.engine.snapshot().associations.find((a) => a.peer === hit)?.state;
    if (!KEYED_STATES.includes(stateOf() ?? '')) {
      const remote = config === undefined ? undefined : this.engine.whereToReach(hitBytes.value);
      if (!remote) {
        throw new ApiError('not-connected', `peer ${label} has no association, no locator and no relay; it has to contact us first, or add one with \`hipvpn peer add ${label} --hit ${hit} --locator IP[:PORT]\` or \`--relay HIT@ADDR[:PORT]\``);
      }
      const s = stateOf();
      if (s === undefined || s === 'UNASSOCIATED' || s === 'CLOSED' || s === 'E-FAILED' || s === 'CLOSING') this.engine.connect(hitBytes.value, remote);
      await this.waitForKeys(hit, deadline);
      if (!KEYED_STATES.includes(stateOf() ?? '')) {
        const where = config!.locators.length > 0 ? `at ${config!.locators.map(endpointText).join(', ')}` : `through the relay at ${endpointText(remote)}`;
        const check = config!.locators.length > 0 ? 'check the locator' : 'check that the peer is registered with that relay';
        throw new ApiError('ping-failed', `no base exchange with ${label} ${where} within ${timeoutMs} ms; ${check} and that hipvpn serve runs there with this host on its peer list`);
      }
    }
    try {
      const r = await this.engine.ping(hitBytes.value, Math.max(1, Math.round(deadline - performance.now())));
      return { name, hit, rttMs: r.rttMs, local: r.local, remote: r.remote };
    } catch (err) {
      if (err instanceof PingError) {
        const why = err.reason === 'timeout' ? `no answer from ${label} within ${timeoutMs} ms` : `ping to ${label} failed: ${err.reason}`;
        throw new ApiError('ping-failed', why);
      }
      throw err;
    }
  }

  /** Moves one peer (or, without `nameOrHit`, every established one) off its primary pair. */
  private failover(nameOrHit: string | undefined, to: { local: string; remote: string } | undefined): ResultOf<'failover'> {
    const targets = nameOrHit === undefined
      ? this.engine.snapshot().associations.filter((a) => a.state === 'ESTABLISHED' && !this.engine.isRelay(a.peer)).map((a) => a.peer)
      : [this.resolvePeer(nameOrHit).hit];
    const before = this.handoverSeq;
    const errors: string[] = [];
    const repeated: HandoverRecord[] = [];
    for (const hit of targets) {
      const bytes = parseHit(hit);
      if (!bytes.ok) continue;
      const now = performance.now();
      const last = to === undefined ? this.lastFailover.get(hit) : undefined;
      if (last !== undefined && now - last.at < FAILOVER_REPEAT_MS) {
        repeated.push(...last.handovers);
        continue;
      }
      try {
        const seq = this.handoverSeq;
        this.engine.failover(bytes.value, to);
        if (to === undefined) this.lastFailover.set(hit, { at: now, handovers: this.handovers.filter((h) => h.seq > seq && h.hit === hit) });
      } catch (err) {
        if (!(err instanceof FailoverError)) throw err;
        // The engine knows peers by HIT; people know them by the name they gave.
        const message = err.message.replaceAll(hit, this.nameOf(hit) ?? hit);
        if (nameOrHit !== undefined) throw new ApiError(err.reason === 'no-association' ? 'not-connected' : 'invalid-params', message);
        errors.push(message);
      }
    }
    if (nameOrHit === undefined && targets.length === 0) throw new ApiError('not-connected', 'no established association to move');
    if (nameOrHit === undefined && errors.length === targets.length) throw new ApiError('invalid-params', errors.join('; '));
    return { handovers: [...repeated, ...this.handovers.filter((h) => h.seq > before)] };
  }

  private usePair(nameOrHit: string, local: { address: string }, remote: { address: string }): ResultOf<'pair.use'> {
    const result = this.failover(nameOrHit, { local: local.address, remote: remote.address });
    return { handover: result.handovers[result.handovers.length - 1] ?? null };
  }

  private waitForKeys(hit: string, deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.engine.off('event', listener);
        resolve();
      };
      const listener = (e: EngineEvent): void => {
        if ((e.type === 'established' || e.type === 'failed') && e.peer === hit) done();
      };
      const timer = setTimeout(done, Math.max(0, deadline - performance.now()));
      this.engine.on('event', listener);
    });
  }
}

function unknownPeerMessage(nameOrHit: string, peers: readonly PeerConfig[]): string {
  const known = peers.map((p) => p.name);
  return `unknown peer ${JSON.stringify(nameOrHit)}${known.length ? ` (known: ${known.join(', ')})` : ' (no peers configured)'}; add it with \`hipvpn peer add NAME --hit HIT\``;
}

function locatorInput(l: MonitoredLocator, meteredInterfaces: readonly string[]): LocalLocatorInput {
  return {
    address: l.address, ifname: l.ifname, kind: l.kind, available: l.available, operational: l.operational,
    preferenceRank: l.preferenceRank, defaultRoute: l.defaultRoute, prefixLength: l.prefixLength,
    ...(meteredInterfaces.includes(l.ifname) ? { metered: true } : {}),
  };
}

/** The name an invitee lists this host under: the host name, as a peer name allows it. */
function hostPeerName(): string {
  const name = hostname().split('.')[0]!.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return name === '' ? 'hipvpn-host' : name;
}
