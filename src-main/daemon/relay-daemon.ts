// `hipvpn relay serve`: a relay and rendezvous server (RFC 8003/8004/9028) as a daemon. Its own
// identity and peer list in the state dir (the same files `hipvpn serve` uses: the peer list
// names the clients it serves, unless --accept-any), plain UDP sockets on the relay port, no TUN
// and no root. The registrations and data-relay permissions are written to registrations.json
// (0600, atomically) whenever they change and read back on start, so clients stay reachable
// across a restart. The control socket answers `relay.status` and edits the peer list.

import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { nodeCrypto } from '../hip/crypto/index.js';
import { readJsonFile, writeJsonAtomic, SerialQueue } from '../platform/state-file.js';
import { BatchedUdp } from '../platform/batched-udp.js';
import { SocketDrops } from '../platform/socket-drops.js';
import type { UdpEndpoint } from '../platform/udp.js';
import { RelayServer, type RelayEvent } from '../relay/relay-server.js';
import { DEFAULT_REGISTRAR_POLICY } from '../relay/registrations.js';
import { CONTROL_API_VERSION, type ControlHandlers, type PeerConfig, type RelayServerStatus, type ResultOf } from '../../src-shared/control-api.js';
import { refuseAll } from '../../src-shared/control-dispatch.js';
import { ApiError } from '../../src-shared/control-error.js';
import { endpointText } from '../../src-shared/status-format.js';
import { errorText } from '../base/errors.js';
import type { ControlServer } from './control-server.js';
import { logLine } from './event-log.js';
import { normalizePeer, withPeer } from './peer-input.js';
import { savePeers } from './peer-store.js';
import type { StateDir } from './state-dir.js';
import { openDaemonState } from './daemon-state.js';

export interface RelayDaemonOptions {
  stateDir: string;
  /** The relay port (10500 by default); 0 picks a free one (tests). */
  port: number;
  listen: string[];
  acceptAny: boolean;
  log: (line: string) => void;
}

export const REGISTRATIONS_FILE = 'registrations.json';
const SAVE_DELAY_MS = 500;

/**
 * Registrations are kept on this clock: monotonic while the daemon runs, anchored to the wall
 * clock at start, so the expiry times written to disk mean the same after a restart.
 */
function relayClock(): () => number {
  const wallAtStart = Date.now();
  const monoAtStart = performance.now();
  return () => wallAtStart + (performance.now() - monoAtStart);
}

const REGISTRATION_NAMES = ['', 'rendezvous', 'relay-hip', 'relay-esp', 'candidate-discovery'];

export class RelayDaemon {
  private timer: NodeJS.Timeout | undefined;
  private saveTimer: NodeJS.Timeout | undefined;
  private readonly saves = new SerialQueue();
  private stopping: Promise<void> | undefined;
  private readonly startedAt = performance.now();
  private readonly socketDrops = new SocketDrops();
  private transport!: BatchedUdp;
  private relay!: RelayServer;

  private constructor(
    private readonly opts: RelayDaemonOptions,
    private readonly dir: StateDir,
    private peers: PeerConfig[],
    private readonly now: () => number,
    private readonly control: ControlServer,
  ) {}

  private get registrationsPath(): string {
    return join(this.dir.root, REGISTRATIONS_FILE);
  }

  static async start(opts: RelayDaemonOptions): Promise<RelayDaemon> {
    // The peer list says who may register; the control socket keeps a second relay off this state dir.
    const state = await openDaemonState(opts.stateDir, 'relay', opts.log);
    const { dir, identity, peers, control } = state;
    const d = new RelayDaemon(opts, dir, peers, relayClock(), control);
    try {
      const saved = await readJsonFile(d.registrationsPath);
      if (saved.kind === 'unreadable') {
        opts.log(logLine('warning', { message: `${d.registrationsPath} is unreadable (${saved.reason}); starting with no registrations`, keptAt: saved.keptAt }));
      }
      d.transport = await BatchedUdp.open({
        addresses: opts.listen,
        port: opts.port,
        onDatagram: (bytes, from, to) => d.onDatagram(bytes, from, to),
        onBatchEnd: () => d.flush(),
      });
      if (d.transport.io !== 'native') {
        opts.log(logLine('warning', { message: `relaying through node:dgram, one datagram at a time (slower): ${d.transport.io.dgram}` }));
      }
      d.relay = new RelayServer({
        identity,
        crypto: nodeCrypto,
        policy: { ...DEFAULT_REGISTRAR_POLICY, acceptAny: opts.acceptAny, isAllowed: (hit) => d.peers.some((p) => p.hit === hit) },
        ...(saved.kind === 'json' ? { saved: saved.value } : {}),
        locals: d.transport.locals(),
        nameOf: (hit) => d.peers.find((p) => p.hit === hit)?.name ?? null,
      }, d.now());
    } catch (err) {
      d.transport?.close();
      await control.close();
      throw err;
    }
    state.serve(d.handlers());
    d.flush();
    opts.log(logLine('relay-listening', {
      hit: d.relay.hit, udp: d.transport.locals().map(endpointText).join(','), acceptAny: opts.acceptAny,
      clients: peers.length, control: dir.socket,
    }));
    return d;
  }

  /**
   * One datagram as it came (HIP behind the zero marker, ESP as it is). The receive buffer is
   * reused after the batch: HIP is copied, since the relay's host may keep what it is given;
   * ESP is forwarded (copied into the send batch) before the batch ends.
   */
  private onDatagram(bytes: Uint8Array, from: UdpEndpoint, to: UdpEndpoint): void {
    const hip = bytes.length >= 4 && (bytes[0]! | bytes[1]! | bytes[2]! | bytes[3]!) === 0;
    this.relay.handleDatagram(this.now(), hip ? bytes.slice() : bytes, from, to);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.relay.handleTimeout(this.now());
    this.flush();
  }

  /** Sends what the relay queued, logs its events, saves changed registrations, re-arms the timer. */
  private flush(): void {
    for (let t = this.relay.pollTransmit(); t !== undefined; t = this.relay.pollTransmit()) this.transport.send(t.bytes, t.to, t.from);
    this.transport.flush();
    for (let e = this.relay.pollEvent(); e !== undefined; e = this.relay.pollEvent()) this.logEvent(e);
    if (this.relay.takeChanged()) this.saveSoon();
    if (this.stopping) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, Math.min(this.relay.nextTimeout() - this.now(), 60_000)));
  }

  /**
   * Renewals change the registrations all the time on a busy relay: the changes of the next
   * SAVE_DELAY_MS are written together. A crash loses at most those, and each client has them
   * back at its next renewal.
   */
  private saveSoon(): void {
    this.saveTimer ??= setTimeout(() => {
      this.saveTimer = undefined;
      void this.save();
    }, SAVE_DELAY_MS);
  }

  private save(): Promise<void> {
    const snapshot = this.relay.registrationsJSON();
    return this.saves.run(() => writeJsonAtomic(this.registrationsPath, snapshot)).catch((err: unknown) => {
      this.opts.log(logLine('warning', { message: `cannot write ${this.registrationsPath}: ${errorText(err)}` }));
    });
  }

  private logEvent(e: RelayEvent): void {
    const names = (types: number[]): string => types.map((t) => REGISTRATION_NAMES[t] ?? String(t)).join(',');
    const client = (hit: string) => ({ client: this.peers.find((p) => p.hit === hit)?.name ?? null, hit });
    switch (e.type) {
      case 'registration':
        this.opts.log(logLine('registration', {
          ...client(e.client), from: endpointText(e.from),
          granted: names(e.granted) || null, cancelled: names(e.cancelled) || null,
          failed: e.failed.map((f) => `${names(f.regTypes)}:${f.failureType}`).join(';') || null,
        }));
        return;
      case 'permissions':
        this.opts.log(logLine('permissions', { ...client(e.client), installed: e.installed, refused: e.refused.map((r) => `${r.spi.toString(16)}:${r.reason}`).join(',') || null }));
        return;
      case 'association':
        this.opts.log(logLine('association', { ...client(e.client), state: e.state }));
        return;
      case 'loaded':
        this.opts.log(logLine('registrations-loaded', { kept: e.kept, dropped: e.dropped.length }));
        for (const d of e.dropped) this.opts.log(logLine('registration-dropped', { index: d.index, reason: d.reason }));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Control API

  /** A relay answers its status and the peer list; every other method of the schema is refused. */
  private handlers(): ControlHandlers {
    return {
      ...refuseAll('not-supported', (method) => `this is a relay (hipvpn relay serve): it answers relay status and the peer list, not ${method}`),
      'relay.status': async () => this.status(),
      'peer.list': async () => ({ peers: this.peers }),
      'peer.add': (peer) => this.addPeer(peer),
      'peer.remove': ({ name }) => this.removePeer(name),
    };
  }

  private status(): RelayServerStatus {
    return {
      version: CONTROL_API_VERSION,
      ...this.relay.status(this.now()),
      listening: this.transport.locals(),
      acceptAny: this.opts.acceptAny,
      uptimeMs: Math.round(performance.now() - this.startedAt),
      socketDrops: this.socketDrops.total(performance.now()),
      oversized: this.transport.truncated,
      unsent: this.transport.unsent,
    };
  }

  private async addPeer(raw: PeerConfig): Promise<ResultOf<'peer.add'>> {
    const peer = normalizePeer(raw);
    if (!peer.ok) throw new ApiError('invalid-params', peer.error);
    if (peer.value.hit === this.relay.hit) throw new ApiError('invalid-params', `${peer.value.hit} is this relay's own HIT`);
    const next = withPeer(this.peers, peer.value);
    if (!next.ok) throw new ApiError('conflict', next.error);
    await savePeers(this.dir.peers, next.value.peers);
    this.peers = next.value.peers;
    this.opts.log(logLine('client-added', { client: peer.value.name, hit: peer.value.hit }));
    return { peer: peer.value, replaced: next.value.replaced };
  }

  private async removePeer(name: string): Promise<ResultOf<'peer.remove'>> {
    const removed = this.peers.find((p) => p.name === name);
    if (!removed) throw new ApiError('unknown-peer', `unknown client ${JSON.stringify(name)}`);
    const next = this.peers.filter((p) => p !== removed);
    await savePeers(this.dir.peers, next);
    this.peers = next;
    // Off the list means off the relay: nothing more is relayed for it, and it is not restored.
    if (!this.opts.acceptAny) this.relay.forget(removed.hit, this.now());
    this.flush();
    this.opts.log(logLine('client-removed', { client: removed.name, hit: removed.hit }));
    return { removed };
  }

  /** Saves the registrations, closes the sockets and the control socket. Safe to call twice. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.opts.log(logLine('stopping', { reason }));
      if (this.timer) clearTimeout(this.timer);
      if (this.saveTimer) clearTimeout(this.saveTimer);
      await this.save();
      this.transport.close();
      await this.control.close();
      this.opts.log(logLine('stopped'));
    })();
    return this.stopping;
  }
}
