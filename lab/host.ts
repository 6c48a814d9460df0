// A lab host: one network namespace. Routers are hosts with forwarding on.

import { run, type CommandResult, type RunOptions } from './command.js';
import type { LinkEnd } from './link.js';
import { subnetOf } from './addressing.js';
import { masqueradeRuleset, natFilterRuleset, portForwardRuleset, sourceValidationRuleset, type MasqueradeOptions } from './nft.js';
import { LabProcess, type SpawnOptions } from './process.js';

export interface Route {
  /** `default` or a CIDR. */
  readonly destination: string;
  readonly via: string;
  readonly dev: string;
  readonly metric?: number;
}

/** What a host needs from the lab that owns it. */
export interface HostOwner {
  track(process: LabProcess): void;
  readonly scratchDir: string;
}

export class Host {
  readonly ends: LinkEnd[] = [];
  private readonly routes: Route[] = [];

  constructor(
    private readonly owner: HostOwner,
    /** Short name used in the lab (a, b, mobile, router). */
    readonly name: string,
    /** The namespace's name under /run/netns. */
    readonly netns: string,
    readonly isRouter: boolean,
  ) {}

  /** Run a command inside this host and wait for it; rejects on non-zero exit unless allowed. */
  exec(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run('ip', ['netns', 'exec', this.netns, cmd, ...args], options);
  }

  /** Start a long-running command inside this host; the lab stops it at teardown. */
  spawn(cmd: string, args: readonly string[], options: SpawnOptions = {}): LabProcess {
    const process = new LabProcess('ip', ['netns', 'exec', this.netns, cmd, ...args], {
      ...options,
      label: options.label ?? `${this.name}:${cmd.split('/').pop() ?? cmd}`,
    });
    this.owner.track(process);
    return process;
  }

  ip(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run('ip', ['-n', this.netns, ...args], options);
  }

  tc(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return run('tc', ['-n', this.netns, ...args], options);
  }

  nft(script: string): Promise<CommandResult> {
    return this.exec('nft', ['-f', '-'], { input: script });
  }

  async sysctl(settings: Record<string, string | number>): Promise<void> {
    const args = Object.entries(settings).map(([key, value]) => `${key}=${value}`);
    await this.exec('sysctl', ['-q', '-w', ...args]);
  }

  /** The end of the named link in this host. */
  iface(ifname: string): LinkEnd {
    const end = this.ends.find((candidate) => candidate.ifname === ifname);
    if (!end) throw new Error(`host ${this.name} has no interface ${ifname} (has ${this.ends.map((e) => e.ifname).join(', ') || 'none'})`);
    return end;
  }

  /** The IPv4 address of the named interface (the first interface by default). */
  address(ifname?: string): string {
    const end = ifname === undefined ? this.ends[0] : this.iface(ifname);
    if (!end) throw new Error(`host ${this.name} has no interfaces`);
    return end.address;
  }

  /** Add a route and remember it, so restoring a cut interface brings it back. */
  async addRoute(route: Route): Promise<void> {
    await this.ip(routeArgs('replace', route));
    this.routes.push(route);
  }

  async reinstallRoutes(dev: string): Promise<void> {
    for (const route of this.routes.filter((candidate) => candidate.dev === dev)) {
      await this.ip(routeArgs('replace', route));
    }
  }

  /** Source-NAT everything that leaves through `ifname` (a home router or a carrier NAT). */
  async masquerade(ifname: string, options: MasqueradeOptions = {}): Promise<void> {
    this.iface(ifname);
    await this.nft(masqueradeRuleset(ifname, options, true));
  }

  /**
   * A NAT on `ifname` as home routers and carriers run them: source NAT out of it, and nothing
   * unsolicited let in through it (dropped silently and counted).
   */
  async natUplink(ifname: string, options: MasqueradeOptions = {}): Promise<void> {
    await this.masquerade(ifname, options);
    await this.nft(natFilterRuleset(ifname, true));
  }

  /**
   * Forward UDP `port` arriving on `wanIfname` to `toAddress` (same port): a server behind this
   * router reachable at the router's public address. Passes the natUplink filter of `wanIfname`.
   */
  async forwardUdpPort(wanIfname: string, port: number, toAddress: string): Promise<void> {
    this.iface(wanIfname);
    await this.nft(portForwardRuleset(wanIfname, port, toAddress, true));
  }

  async removeMasquerade(ifname: string): Promise<void> {
    await this.nft(masqueradeRuleset(ifname, {}, false));
  }

  /** Drop forwarded packets from `ifname` whose source is not on that link (BCP 38). */
  async validateSources(ifname: string): Promise<void> {
    const end = this.iface(ifname);
    await this.nft(sourceValidationRuleset(ifname, subnetOf(end.address, end.prefixLength), true));
  }

  /** Per-host scratch folder for state files (created by the lab). */
  get scratchDir(): string {
    return `${this.owner.scratchDir}/${this.name}`;
  }

  toString(): string {
    return this.name;
  }
}

function routeArgs(verb: 'replace', route: Route): string[] {
  const args = ['route', verb, route.destination, 'via', route.via, 'dev', route.dev];
  if (route.metric !== undefined) args.push('metric', String(route.metric));
  return args;
}
