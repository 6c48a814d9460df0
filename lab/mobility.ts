// The mobility lab: a laptop with a Wi-Fi and a cellular uplink, each through its own access
// router, both reaching a server through a core router; and the events of issue 4 that happen to
// such a laptop (an uplink appearing or going away, a silent dead path, a new address, a one-way
// path, the server's site switching ISPs).
//
//                 192.168.1.0/24             172.31.1.0/24
//   mobile  wifi0 ───────────── wifirouter up0 ─────────── wifinet
//                                                               core ── servernet ── eth0 server
//           cell0 ───────────── cellrouter up0 ─────────── cellnet      172.31.9.0/24
//                 10.64.0.0/24               172.31.2.0/24
//
// With `server: 'behind-multihomed-nat'` the server sits instead behind a site router that
// masquerades out of two ISP links (seed 000 §3.3, Figure 3):
//
//   core isp1 ── 172.31.11.0/24 ── isp1 site isp2 ── 172.31.12.0/24 ── isp2 core
//                                       site lan0 ── 192.168.50.0/24 ── eth0 server
//
// With `server: 'port-forwarded'` the server sits behind a site router with one ISP link that
// masquerades, drops what nobody behind it asked for, and forwards the HIP port (UDP 10500) to
// the server (seed 000 §5.1.3: the correspondent reachable through a port forward, no relay):
//
//   core isp1 ── 172.31.11.0/24 ── isp1 site lan0 ── 192.168.50.0/24 ── eth0 server
//
// Routes as a laptop has them: default via wifi0 (metric 600) preferred, via cell0 (700)
// second. The access routers drop packets whose source is not on their customer link (BCP 38),
// as real access networks do, so a packet that leaves by the wrong uplink is lost.

import type { Host } from './host.js';
import { HIP_UDP_PORT } from '../src-main/hip/wire/constants.js';
import { Lab, type LabOptions } from './lab.js';
import { forwardRefusalRuleset } from './nft.js';
import type { LinkEnd } from './link.js';

/** How cell0 starts out. */
export type CellStart =
  /** Up, addressed, default route at metric 700. */
  | 'up'
  /** The interface exists, administratively down (a modem not yet connected). */
  | 'down'
  /** Up, without an address or route (a modem connected, its DHCP lease still pending). */
  | 'no-address'
  /** No interface at all (the USB modem not plugged in yet). */
  | 'absent';

export interface MobilityLabOptions extends LabOptions {
  readonly cell0?: CellStart;
  readonly server?: 'direct' | 'behind-multihomed-nat' | 'port-forwarded';
  /**
   * The laptop's access routers as the field has them: Wi-Fi behind a port-preserving home NAT,
   * cellular behind a symmetric carrier NAT, both dropping what nobody behind them asked for.
   */
  readonly mobileBehindNats?: boolean;
}

export const WIFI_SUBNET = '192.168.1.0/24';
export const CELL_SUBNET = '10.64.0.0/24';
/** Route metrics NetworkManager gives Wi-Fi and mobile broadband. */
export const WIFI_METRIC = 600;
export const CELL_METRIC = 700;
/** wifi0's address after renumber(): same subnet, new lease. */
export const RENUMBERED_WIFI_ADDRESS = '192.168.1.77';

export class MobilityLab {
  private cellState: CellStart;
  private wifiRefusal: 'reject' | 'drop' | null = null;
  private readonly originalWifiAddress: string;

  private constructor(
    readonly lab: Lab,
    readonly mobile: Host,
    readonly wifiRouter: Host,
    readonly cellRouter: Host,
    readonly core: Host,
    readonly server: Host,
    /** The server's site router, when the server is behind the multihomed NAT or a port forward. */
    readonly site: Host | undefined,
    private readonly cellStart: CellStart,
    /** Where the server sits: on the core, behind the multihomed NAT, or behind a port forward. */
    readonly serverKind: NonNullable<MobilityLabOptions['server']>,
  ) {
    this.cellState = cellStart;
    this.originalWifiAddress = mobile.address('wifi0');
  }

  static async create(options: MobilityLabOptions = {}): Promise<MobilityLab> {
    const lab = await Lab.create(options);
    try {
      return await MobilityLab.build(lab, options);
    } catch (error) {
      await lab.teardown();
      throw error;
    }
  }

  private static async build(lab: Lab, options: MobilityLabOptions): Promise<MobilityLab> {
    const mobile = await lab.addHost('mobile');
    const wifiRouter = await lab.addRouter('wifirouter');
    const cellRouter = await lab.addRouter('cellrouter');
    const core = await lab.addRouter('core');
    const server = await lab.addHost('server');
    const serverKind = options.server ?? 'direct';
    const site = serverKind === 'direct' ? undefined : await lab.addRouter('site');

    // The access networks and the core.
    await lab.connect(wifiRouter, core, { name: 'up0', peerName: 'wifinet', subnet: '172.31.1.0/24' });
    await lab.connect(cellRouter, core, { name: 'up0', peerName: 'cellnet', subnet: '172.31.2.0/24' });
    for (const router of [wifiRouter, cellRouter]) {
      await router.addRoute({ destination: 'default', via: router.iface('up0').peer.address, dev: 'up0' });
    }
    await core.addRoute({ destination: WIFI_SUBNET, via: wifiRouter.address('up0'), dev: 'wifinet' });
    await core.addRoute({ destination: CELL_SUBNET, via: cellRouter.address('up0'), dev: 'cellnet' });

    // The server, directly on the core or behind its site's NAT.
    if (site && serverKind === 'port-forwarded') {
      await lab.connect(server, site, { name: 'eth0', peerName: 'lan0', subnet: '192.168.50.0/24' });
      await lab.connect(site, core, { name: 'isp1', subnet: '172.31.11.0/24' });
      await site.addRoute({ destination: 'default', via: site.iface('isp1').peer.address, dev: 'isp1' });
      await site.natUplink('isp1');
      await site.forwardUdpPort('isp1', HIP_UDP_PORT, server.address('eth0'));
    } else if (site) {
      await lab.connect(server, site, { name: 'eth0', peerName: 'lan0', subnet: '192.168.50.0/24' });
      await lab.connect(site, core, { name: 'isp1', subnet: '172.31.11.0/24' });
      await lab.connect(site, core, { name: 'isp2', subnet: '172.31.12.0/24' });
      await site.addRoute({ destination: 'default', via: site.iface('isp1').peer.address, dev: 'isp1', metric: 100 });
      await site.addRoute({ destination: 'default', via: site.iface('isp2').peer.address, dev: 'isp2', metric: 200 });
      await site.masquerade('isp1');
      await site.masquerade('isp2');
    } else {
      await lab.connect(server, core, { name: 'eth0', peerName: 'servernet', subnet: '172.31.9.0/24' });
    }

    if (options.mobileBehindNats) {
      await wifiRouter.natUplink('up0');
      await cellRouter.natUplink('up0', { fullyRandom: true });
    }

    // The laptop's uplinks.
    await lab.connect(mobile, wifiRouter, { name: 'wifi0', peerName: 'mobile0', subnet: WIFI_SUBNET, defaultRoute: true, metric: WIFI_METRIC });
    await wifiRouter.validateSources('mobile0');
    const cell0 = options.cell0 ?? 'up';
    const mobility = new MobilityLab(lab, mobile, wifiRouter, cellRouter, core, server, site, cell0, serverKind);
    if (cell0 !== 'absent') {
      await mobility.connectCell();
      if (cell0 === 'down') await mobility.cell.cutLink('down');
      if (cell0 === 'no-address') await mobility.cell.cutLink('address');
    }
    return mobility;
  }

  /** The mobile's wifi0. */
  get wifi(): LinkEnd {
    return this.mobile.iface('wifi0');
  }

  /** The mobile's cell0 (throws while it is absent). */
  get cell(): LinkEnd {
    return this.mobile.iface('cell0');
  }

  /**
   * Where the mobile reaches the server: its own address, or its site's first ISP address (the
   * forwarded public address, with a port forward).
   */
  get serverAddress(): string {
    return this.site ? this.site.address('isp1') : this.server.address('eth0');
  }

  /**
   * One more UDP port forwarded to the server (beside HIP's), for another system measured on the
   * same port-forwarded lab; throws unless the server sits behind a port forward.
   */
  async forwardToServer(port: number): Promise<void> {
    if (!this.site || this.serverKind !== 'port-forwarded') {
      throw new Error("the server is not behind a port forward (server: 'port-forwarded')");
    }
    await this.site.forwardUdpPort('isp1', port, this.server.address('eth0'));
  }

  teardown(): Promise<void> {
    return this.lab.teardown();
  }

  // -------------------------------------------------------------------------------------------
  // Events. Each resolves once the change is in place (as the kernel reports it).

  /** cell0 becomes usable, whatever it started as: plugged in, brought up or given its address. */
  async bringUpCell(): Promise<void> {
    switch (this.cellState) {
      case 'up':
        return;
      case 'absent':
        await this.connectCell();
        break;
      case 'down':
      case 'no-address':
        await this.cell.restore();
        break;
    }
    this.cellState = 'up';
  }

  /** wifi0 goes down on the laptop (Wi-Fi switched off, out of range): the host sees it. */
  async takeDownWifi(): Promise<void> {
    await this.wifi.cutLink('down');
  }

  /**
   * Wi-Fi's far side dies: the access point's uplink drops everything, both ways. wifi0 stays
   * up with its address and route, and the access router still answers ARP: the host sees nothing.
   */
  async cutWifiFarSide(): Promise<void> {
    await this.wifiRouter.iface('up0').cutLink('silent');
  }

  /** wifi0 gets a new address in the same subnet (a new DHCP lease). */
  async renumberWifi(newAddress = RENUMBERED_WIFI_ADDRESS): Promise<void> {
    await this.wifi.renumber(newAddress);
  }

  /** On the Wi-Fi path, packets towards the laptop are dropped; the laptop's own still get out. */
  async dropWifiDownstream(): Promise<void> {
    await this.wifiRouter.iface('up0').blockArrivals(true);
  }

  /**
   * The Wi-Fi access router stops forwarding, both ways: 'reject' answers every packet with an
   * ICMP host unreachable to its sender (nftables `reject`), 'drop' is the same with ICMP
   * filtered out; null forwards again. wifi0 stays up with its address and route.
   */
  async refuseWifiPath(how: 'reject' | 'drop' | null): Promise<void> {
    await this.wifiRouter.nft(forwardRefusalRuleset(how));
    this.wifiRefusal = how;
  }

  /**
   * The server's site loses its first ISP: the site router's isp1 goes down, its routes and NAT
   * mappings with it, and the server's packets leave by isp2 from the site's other address.
   */
  async failSiteIsp1(): Promise<void> {
    if (!this.site?.ends.some((end) => end.ifname === 'isp2')) throw new Error('the server is not behind a multihomed site (server: behind-multihomed-nat)');
    await this.site.iface('isp1').cutLink('down');
  }

  /**
   * Undo every event: Wi-Fi back up with its first address, its far side and both directions
   * working, the site's first ISP back, and cell0 as it started (not possible for 'absent').
   * Lets one lab serve several measurements.
   */
  async reset(): Promise<void> {
    const wifi = this.wifi;
    await wifi.restore();
    if (wifi.address !== this.originalWifiAddress) await wifi.renumber(this.originalWifiAddress);
    const farSide = this.wifiRouter.iface('up0');
    await farSide.restore();
    if (farSide.arrivalsBlocked) await farSide.blockArrivals(false);
    if (this.wifiRefusal !== null) await this.refuseWifiPath(null);
    await this.site?.iface('isp1').restore();
    if (this.cellState !== this.cellStart) {
      if (this.cellStart === 'absent') throw new Error('cannot unplug cell0 again: start it as down or no-address to reuse the lab');
      const cell = this.cell;
      await cell.restore();
      if (this.cellStart === 'down') await cell.cutLink('down');
      if (this.cellStart === 'no-address') await cell.cutLink('address');
      this.cellState = this.cellStart;
    }
  }

  private async connectCell(): Promise<void> {
    await this.lab.connect(this.mobile, this.cellRouter, { name: 'cell0', peerName: 'mobile0', subnet: CELL_SUBNET, defaultRoute: true, metric: CELL_METRIC });
    await this.cellRouter.validateSources('mobile0');
  }
}

export function mobilityLab(options: MobilityLabOptions = {}): Promise<MobilityLab> {
  return MobilityLab.create(options);
}
