// A veth link between two lab hosts and what can be done to either end of it: cut it (link
// down, address removed, or silently blackholed), rate-limit it (tc tbf), make it lossy
// (nftables random drop).

import type { Host } from './host.js';
import { ingressBlackholeRuleset, ingressLossRuleset, ingressOneWayBlockRuleset, type Direction } from './nft.js';

export type CutMode =
  /** `ip link set down`: the host sees the interface go away (and its routes with it). */
  | 'down'
  /** `ip addr del`: the interface stays up, the address (and routes through it) vanish. */
  | 'address'
  /**
   * Every packet on the link dropped, both ways, as they arrive; both interfaces stay up with
   * their addresses, so neither host can observe the cut (a dead path beyond the first hop).
   */
  | 'silent';

export interface InterfaceCounters {
  readonly rxPackets: number;
  readonly txPackets: number;
  readonly rxBytes: number;
  readonly txBytes: number;
}

export interface RateLimit {
  readonly mbit: number;
  /** Queue limit expressed as the longest a packet may wait in the token bucket. */
  readonly latencyMs?: number;
}

export class LinkEnd {
  peer!: LinkEnd;
  private cut: CutMode | undefined;
  private blockedArrivals = false;
  private currentAddress: string;

  constructor(
    readonly host: Host,
    readonly ifname: string,
    address: string,
    readonly prefixLength: number,
  ) {
    this.currentAddress = address;
  }

  /** The IPv4 address of this end, without prefix length (changes with renumber()). */
  get address(): string {
    return this.currentAddress;
  }

  /** How this end is cut right now, if it is. */
  get cutMode(): CutMode | undefined {
    return this.cut;
  }

  /** Cut the link at this end. Undo with restore(). */
  async cutLink(mode: CutMode = 'down'): Promise<void> {
    if (this.cut !== undefined) await this.restore();
    switch (mode) {
      case 'down':
        await this.host.ip(['link', 'set', 'dev', this.ifname, 'down']);
        break;
      case 'address':
        await this.host.ip(['addr', 'del', `${this.address}/${this.prefixLength}`, 'dev', this.ifname]);
        break;
      case 'silent':
        await this.setBlackhole(true);
        break;
    }
    this.cut = mode;
  }

  /** Undo a cut: interface up, address back, routes through it back. */
  async restore(): Promise<void> {
    const mode = this.cut;
    if (mode === undefined) return;
    switch (mode) {
      case 'down':
        await this.host.ip(['link', 'set', 'dev', this.ifname, 'up']);
        // The kernel reports carrier through linkwatch, which may lag up to a second; traffic
        // sent before that is dropped, so a restore is only done when both ends are UP.
        await Promise.all([this.waitOperational(), this.peer.waitOperational()]);
        break;
      case 'address':
        await this.host.ip(['addr', 'add', `${this.address}/${this.prefixLength}`, 'dev', this.ifname]);
        break;
      case 'silent':
        await this.setBlackhole(false);
        break;
    }
    this.cut = undefined;
    // The kernel drops routes through an interface that went down or lost its address.
    if (mode !== 'silent') await this.host.reinstallRoutes(this.ifname);
  }

  /**
   * Give this end a new address in the same subnet (a new DHCP lease): the old one is removed
   * first, then the new one added and the routes through the interface put back.
   */
  async renumber(newAddress: string): Promise<void> {
    if (this.cut === 'address') throw new Error(`${this} has no address to change (cut by address); restore it first`);
    await this.host.ip(['addr', 'del', `${this.currentAddress}/${this.prefixLength}`, 'dev', this.ifname]);
    await this.host.ip(['addr', 'add', `${newAddress}/${this.prefixLength}`, 'dev', this.ifname]);
    this.currentAddress = newAddress;
    await this.host.reinstallRoutes(this.ifname);
  }

  /**
   * Drop every IP packet arriving at this end while packets leaving it still go through: one
   * direction of the path is dead. Neither host can see it (ARP still works).
   */
  async blockArrivals(enabled: boolean): Promise<void> {
    await this.host.nft(ingressOneWayBlockRuleset(this.ifname, enabled));
    this.blockedArrivals = enabled;
  }

  get arrivalsBlocked(): boolean {
    return this.blockedArrivals;
  }

  /** Packets and bytes the kernel counted on this interface so far. */
  async counters(): Promise<InterfaceCounters> {
    const shown = await this.host.ip(['-j', '-s', 'link', 'show', 'dev', this.ifname]);
    const [info] = JSON.parse(shown.stdout) as Array<{ stats64?: { rx?: { packets?: number; bytes?: number }; tx?: { packets?: number; bytes?: number } } }>;
    const stats = info?.stats64;
    return {
      rxPackets: stats?.rx?.packets ?? 0,
      txPackets: stats?.tx?.packets ?? 0,
      rxBytes: stats?.rx?.bytes ?? 0,
      txBytes: stats?.tx?.bytes ?? 0,
    };
  }

  /** Token-bucket rate limit on packets leaving through this end. */
  async rateLimit(limit: RateLimit): Promise<void> {
    const bytesPerSecond = (limit.mbit * 1e6) / 8;
    // The bucket must hold at least one tick's worth of tokens and a full-size frame, or tbf
    // cannot reach the asked rate.
    const burst = Math.max(16 * 1024, Math.ceil(bytesPerSecond / 100));
    await this.host.tc([
      'qdisc', 'replace', 'dev', this.ifname, 'root', 'tbf',
      'rate', `${limit.mbit}mbit`, 'burst', String(burst), 'latency', `${limit.latencyMs ?? 50}ms`,
    ]);
  }

  async clearRateLimit(): Promise<void> {
    await this.host.tc(['qdisc', 'del', 'dev', this.ifname, 'root'], { allowFailure: true });
  }

  /**
   * Drop `percent` % of the packets, drawn at random, that leave through this end ('egress'),
   * arrive on it ('ingress') or both. 0 removes the loss in that direction. Drops happen as the
   * packet arrives at the receiving end, so the sender's socket never hears of them.
   */
  async setLoss(percent: number, direction: Direction = 'both'): Promise<void> {
    if (direction !== 'ingress') await this.peer.host.nft(ingressLossRuleset(this.peer.ifname, percent));
    if (direction !== 'egress') await this.host.nft(ingressLossRuleset(this.ifname, percent));
  }

  private async setBlackhole(enabled: boolean): Promise<void> {
    await this.host.nft(ingressBlackholeRuleset(this.ifname, enabled));
    await this.peer.host.nft(ingressBlackholeRuleset(this.peer.ifname, enabled));
  }

  /** Wait until the kernel reports this end operationally UP (carrier on both sides). */
  async waitOperational(timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let state = 'unknown';
    while (performance.now() < deadline) {
      const shown = await this.host.ip(['-j', 'link', 'show', 'dev', this.ifname]);
      const [info] = JSON.parse(shown.stdout) as Array<{ operstate?: string }>;
      state = info?.operstate ?? 'unknown';
      if (state === 'UP') return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${this} not operationally up within ${timeoutMs} ms (operstate ${state})`);
  }

  toString(): string {
    return `${this.host.name}:${this.ifname}(${this.address})`;
  }
}

export class Link {
  constructor(
    readonly a: LinkEnd,
    readonly b: LinkEnd,
    readonly subnet: string,
  ) {
    a.peer = b;
    b.peer = a;
  }

  /** The end that sits in `host`. */
  end(host: Host): LinkEnd {
    if (this.a.host === host) return this.a;
    if (this.b.host === host) return this.b;
    throw new Error(`link ${this.a} <-> ${this.b} does not touch host ${host.name}`);
  }

  toString(): string {
    return `${this.a} <-> ${this.b}`;
  }
}
