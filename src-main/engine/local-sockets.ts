// Our locators and their sockets kept in step: the interface monitor says which addresses we
// have; each available one gets a socket bound to its device, each vanished one loses it, and
// only addresses whose socket is open are handed on as locators (a locator without a socket
// would make HIP announce an address it cannot send from). Opening is asynchronous: `changed()`
// or `openFailed()` follows, and the list is re-derived from the sockets that exist. An address
// whose socket failed to open is tried again at the next change the monitor reports.

import type { InterfaceKind, LocalLocator } from '../../src-shared/vocabulary.js';
import type { UdpEndpoint } from '../platform/udp.js';
import type { EngineLocator } from '../core/path-manager.js';

/** One local address as the interface monitor reports it (mobility/local-addresses.ts). */
export interface LocalLocatorInput extends LocalLocator {
  /** Assigned now (false while a vanished address is held in case it returns). */
  available: boolean;
  /** Packets may leave from it now. */
  operational: boolean;
  preferenceRank: number;
  /** A default route leaves through its interface (absent: assumed, as for fixed addresses). */
  defaultRoute?: boolean;
  prefixLength?: number;
  /** The user's `meteredInterfaces` names its interface. */
  metered?: boolean;
}

export interface SocketHost {
  locals(): UdpEndpoint[];
  /** Starts opening a socket (bound to `device`); `changed()` or `openFailed()` follows. */
  open(address: string, device: string | undefined): void;
  close(address: string): void;
  apply(locators: EngineLocator[]): void;
}

export class LocalSockets {
  private desired: LocalLocatorInput[] = [];
  private readonly opening = new Set<string>();
  private lastApplied = '';

  constructor(private readonly host: SocketHost) {}

  /** The listen addresses, fixed for the engine's life (`--listen`, tests). */
  setStatic(list: readonly { address: string; ifname: string; kind: InterfaceKind; rank: number }[]): void {
    this.desired = list.map((l) => ({ address: l.address, ifname: l.ifname, kind: l.kind, available: true, operational: true, preferenceRank: l.rank }));
    this.applyOpen();
  }

  setDesired(list: readonly LocalLocatorInput[]): void {
    this.desired = list.map((l) => ({ ...l }));
    const open = new Set(this.host.locals().map((l) => l.address));
    const wanted = new Set(this.desired.filter((l) => l.available).map((l) => l.address));
    for (const l of this.desired) {
      if (!l.available || open.has(l.address) || this.opening.has(l.address)) continue;
      this.opening.add(l.address);
      this.host.open(l.address, l.ifname);
    }
    for (const address of open) if (!wanted.has(address)) this.host.close(address);
    this.applyOpen();
  }

  /** The transport's sockets changed (an open finished, a close took effect). */
  changed(): void {
    const open = new Set(this.host.locals().map((l) => l.address));
    for (const address of [...this.opening]) if (open.has(address)) this.opening.delete(address);
    this.applyOpen();
  }

  openFailed(address: string): void {
    this.opening.delete(address);
    this.applyOpen();
  }

  /** Re-derives the locators from the desired list and the sockets that exist. */
  private applyOpen(): void {
    const ports = new Map(this.host.locals().map((l) => [l.address, l.port]));
    const locators: EngineLocator[] = [];
    for (const l of this.desired) {
      const port = ports.get(l.address);
      if (port === undefined) continue;
      locators.push({
        address: l.address, port, ifname: l.ifname, kind: l.kind, operational: l.available && l.operational,
        preferenceRank: l.preferenceRank, defaultRoute: l.defaultRoute ?? true, prefixLength: l.prefixLength ?? 0,
        ...(l.metered === true ? { metered: true } : {}),
      });
    }
    const fingerprint = JSON.stringify(locators);
    if (fingerprint === this.lastApplied) return;
    this.lastApplied = fingerprint;
    this.host.apply(locators);
  }
}
