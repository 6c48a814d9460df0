// The lab: hosts made of network namespaces, joined by veth links, torn down completely when the
// test ends — also when it fails or the process is killed (see registry.ts).
//
//   const lab = await Lab.create();
//   const router = await lab.addRouter('router');
//   const mobile = await lab.addHost('mobile');
//   const wifi = await lab.connect(mobile, router, { name: 'wifi0' });
//   await wifi.end(mobile).cutLink('silent');
//   ...
//   await lab.teardown();

import { mkdirSync, rmSync } from 'node:fs';
import { defaultLinkSubnet, formatSubnet, hostAddress, parseSubnet } from './addressing.js';
import { Host, type HostOwner } from './host.js';
import { Link, LinkEnd } from './link.js';
import type { LabProcess } from './process.js';
import {
  cleanupLeftovers,
  destroyNamespaceSync,
  labScratchDir,
  namespacesOf,
  nextLabId,
  registerLab,
  unregisterLab,
  type TeardownTarget,
} from './registry.js';
import { run } from './command.js';

export interface LabOptions {
  /** Print each step (the demo CLI uses this). */
  readonly log?: (line: string) => void;
}

export interface ConnectOptions {
  /** Interface name on both ends, named for what it models: wifi0, cell0, eth0. */
  readonly name: string;
  /** A different name for the second host's end (default: the same as `name`). */
  readonly peerName?: string;
  /** IPv4 subnet of the link (default 10.<n>.0.0/24). */
  readonly subnet?: string;
  /**
   * Give the non-router end a default route through the router at the other end (never the
   * router end). Default: yes when this host has no default route yet.
   */
  readonly defaultRoute?: boolean;
  /** Metric of that default route (a second uplink gets a higher one). */
  readonly metric?: number;
}

const IFNAME = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;

export class Lab implements TeardownTarget, HostOwner {
  readonly hosts: Host[] = [];
  readonly links: Link[] = [];
  private readonly processes = new Set<LabProcess>();
  private tornDown = false;
  private readonly defaultRoutes = new Set<Host>();

  private constructor(
    readonly id: string,
    readonly scratchDir: string,
    private readonly log: (line: string) => void,
  ) {}

  static async create(options: LabOptions = {}): Promise<Lab> {
    if (process.getuid?.() !== 0) throw new Error('the lab needs root (network namespaces); run it with sudo');
    cleanupLeftovers();
    const id = nextLabId();
    const lab = new Lab(id, labScratchDir(id), options.log ?? (() => {}));
    mkdirSync(lab.scratchDir, { recursive: true, mode: 0o700 });
    registerLab(lab);
    return lab;
  }

  addHost(name: string): Promise<Host> {
    return this.createHost(name, false);
  }

  /** A host with IPv4 and IPv6 forwarding on. */
  addRouter(name: string): Promise<Host> {
    return this.createHost(name, true);
  }

  host(name: string): Host {
    const host = this.hosts.find((candidate) => candidate.name === name);
    if (!host) throw new Error(`no host ${name} in lab ${this.id}`);
    return host;
  }

  /** A veth pair between two hosts, addressed and up. */
  async connect(first: Host, second: Host, options: ConnectOptions): Promise<Link> {
    this.assertLive();
    const firstName = options.name;
    const secondName = options.peerName ?? options.name;
    for (const ifname of [firstName, secondName]) {
      if (!IFNAME.test(ifname)) throw new Error(`bad interface name ${ifname}: at most 15 characters, starting with a letter`);
    }
    const subnet = options.subnet ? parseSubnet(options.subnet) : defaultLinkSubnet(this.links.length + 1);
    // Routers take .1 by convention, so hosts' gateways look familiar.
    const firstIsGateway = first.isRouter && !second.isRouter;
    const secondIsGateway = second.isRouter && !first.isRouter;
    const firstAddress = hostAddress(subnet, secondIsGateway ? 2 : 1);
    const secondAddress = hostAddress(subnet, secondIsGateway ? 1 : 2);

    await run('ip', ['link', 'add', firstName, 'netns', first.netns, 'type', 'veth', 'peer', 'name', secondName, 'netns', second.netns]);
    const a = new LinkEnd(first, firstName, firstAddress, subnet.prefixLength);
    const b = new LinkEnd(second, secondName, secondAddress, subnet.prefixLength);
    const link = new Link(a, b, formatSubnet(subnet));
    for (const end of [a, b]) {
      await end.host.ip(['addr', 'add', `${end.address}/${end.prefixLength}`, 'dev', end.ifname]);
      await end.host.ip(['link', 'set', 'dev', end.ifname, 'up']);
      end.host.ends.push(end);
    }
    // A link is ready when it carries packets, as a plugged-in cable would be: software that
    // lists usable interfaces (getifaddrs skips those without carrier) must see it.
    await Promise.all([a.waitOperational(), b.waitOperational()]);
    this.links.push(link);
    this.log(`link ${link} (${link.subnet})`);

    for (const [end, gatewaySide] of [[a, secondIsGateway], [b, firstIsGateway]] as const) {
      // Only a host whose other end is a router gets one: `defaultRoute: true` must not also
      // point the router's default route back at the host.
      const wanted = gatewaySide && (options.defaultRoute ?? !this.defaultRoutes.has(end.host));
      if (!wanted) continue;
      await end.host.addRoute({ destination: 'default', via: end.peer.address, dev: end.ifname, metric: options.metric });
      this.defaultRoutes.add(end.host);
      this.log(`  ${end.host.name}: default via ${end.peer.address} dev ${end.ifname}${options.metric !== undefined ? ` metric ${options.metric}` : ''}`);
    }
    return link;
  }

  /**
   * An interface name unique on this machine, for software that keys global state by interface
   * name whatever the namespace (wireguard-go's control socket in /var/run/wireguard).
   */
  uniqueIfname(suffix: string): string {
    const name = `${this.id}${suffix}`;
    if (!IFNAME.test(name) || !/^\D/.test(suffix)) throw new Error(`cannot make a unique interface name from ${this.id} and ${suffix}`);
    return name;
  }

  track(process: LabProcess): void {
    this.processes.add(process);
    void process.exited.then(() => this.processes.delete(process));
  }

  /** Stop every process, delete every namespace and scratch file. Safe to call twice. */
  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    await Promise.all([...this.processes].map((process) => process.stop(2_000)));
    this.removeEverythingSync();
    unregisterLab(this);
    this.log(`lab ${this.id} torn down`);
  }

  /** For exit hooks: no awaiting, no grace period. */
  teardownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const process of this.processes) process.signal('SIGKILL');
    this.removeEverythingSync();
  }

  /** Namespaces of this lab that still exist (empty after teardown). */
  remainingNamespaces(): string[] {
    return namespacesOf(this.id);
  }

  private removeEverythingSync(): void {
    for (const netns of namespacesOf(this.id)) destroyNamespaceSync(netns);
    rmSync(this.scratchDir, { recursive: true, force: true });
  }

  private async createHost(name: string, isRouter: boolean): Promise<Host> {
    this.assertLive();
    if (!/^[a-z][a-z0-9]{0,15}$/.test(name)) throw new Error(`host names are short lowercase words, got ${name}`);
    if (this.hosts.some((host) => host.name === name)) throw new Error(`lab ${this.id} already has a host ${name}`);
    const host = new Host(this, name, `${this.id}-${name}`, isRouter);
    await run('ip', ['netns', 'add', host.netns]);
    this.hosts.push(host);
    mkdirSync(host.scratchDir, { recursive: true, mode: 0o700 });
    await host.ip(['link', 'set', 'dev', 'lo', 'up']);
    await host.sysctl({
      // Multihomed hosts and asymmetric paths must not be filtered by source validation.
      'net.ipv4.conf.all.rp_filter': 0,
      'net.ipv4.conf.default.rp_filter': 0,
      'net.ipv4.ip_forward': isRouter ? 1 : 0,
      'net.ipv6.conf.all.forwarding': isRouter ? 1 : 0,
    });
    this.log(`${isRouter ? 'router' : 'host'} ${name} (netns ${host.netns})`);
    return host;
  }

  private assertLive(): void {
    if (this.tornDown) throw new Error(`lab ${this.id} was torn down`);
  }
}
