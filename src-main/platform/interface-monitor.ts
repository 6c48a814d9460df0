// The interface monitor: the I/O edge that keeps the local address state machine
// (mobility/local-addresses.ts) fed with what the OS says, at once.
//
// Linux: `ip monitor link address route` is the trigger; each burst of kernel events is answered
// by a full re-read (links, addresses and routes of both families, asked of a long-lived
// `ip -json -batch` child: under a millisecond, where spawning `ip` per read took 2–6 ms on the
// path from a new default route to the handover). Re-reading instead of applying each event keeps
// one code path and needs no trust in event completeness: the kernel flushes IPv4 routes of a
// downed interface without announcing it, and a re-read sees that.
//
// Everything runs in the caller's network namespace (so under `ip netns exec NS` it watches NS),
// or in `netns` through `ip -n` (tests; sysfs and systeminformation then describe the wrong
// namespace, so interface metadata is off).
//
// Sleep/resume and clock jumps: the Electron shell calls recheck('resume') on powerMonitor's
// resume; independently, a once-a-second check compares the monotonic clock (which stops during
// suspend) with the wall clock (which does not, and which NTP may step) and re-reads on a jump.

import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import {
  LocalAddresses,
  type InterfaceSnapshot,
  type LinkRecord,
  type LocalAddressEvent,
  type LocalAddressPolicy,
  type MonitoredLocator,
  type LocatorChange,
  type SnapshotTrigger,
} from '../mobility/local-addresses.js';
import { monotonicClock, type Clock } from './clock.js';
import { readSysfsFacts, systemInformationMetadata, type SysfsFacts } from './interface-metadata.js';
import { parseSnapshot } from './interface-snapshot.js';
import { IpBatch } from './ip-batch.js';

export interface InterfaceMonitorOptions {
  readonly policy?: Partial<LocalAddressPolicy>;
  /** Watch this named namespace through `ip -n` instead of our own. */
  readonly netns?: string;
  /** sysfs and systeminformation metadata (default: on, unless `netns` is set). */
  readonly interfaceMetadata?: boolean;
  readonly ipCommand?: string;
  readonly clock?: Clock;
  readonly wallClock?: () => number;
  /** How often the clocks are compared. */
  readonly clockCheckIntervalMs?: number;
  /** Drift between the clocks beyond which a jump (or a suspend) is assumed. */
  readonly clockJumpToleranceMs?: number;
}

/** When the kernel notification behind a change reached us (monitor clock), for latency figures. */
export interface ChangeTiming {
  readonly kernelEventAt?: number;
}

export interface InterfaceMonitorEvents {
  change: [LocatorChange, ChangeTiming];
  /** A full re-read was started for a reason other than a kernel event (resume, clock jump). */
  recheck: [SnapshotTrigger];
  /** Something went wrong and is being retried; the monitor carries on. */
  warning: [string];
}

/**
 * Kernel events come in bursts (a link going down is a dozen messages within a millisecond), but
 * `ip monitor` writes them at once and one pipe read usually holds the whole burst; the rest is
 * caught by the quick follow-up reads. Waiting longer only delays a clean change.
 */
const BURST_SETTLE_MS = 0;
/**
 * Reads that follow each other: the first few at once (a clean change often comes in steps a
 * few ms apart: an address, then its route), and once events keep coming, at most half the time
 * spent reading (after a read, the next waits as long as that one took), so a storm costs little.
 */
const MIN_DUMP_SPACING_MS = 2;
const QUICK_FOLLOW_UP_DUMPS = 3;
/** A read starting this long after the previous one ended is not part of a burst. */
const QUIET_MS = 250;
const DUMP_TIMEOUT_MS = 5_000;
const RETRY_MS = 1_000;
/** One extra read shortly after start: `ip monitor` subscribes a moment after it is spawned. */
const STARTUP_RECHECK_MS = 250;
const METADATA_SETTLE_MS = 200;

export class InterfaceMonitor extends EventEmitter<InterfaceMonitorEvents> {
  private readonly machine: LocalAddresses;
  private readonly clock: Clock;
  private readonly wallClock: () => number;
  private readonly ip: string;
  private readonly nsArgs: string[];
  private readonly metadataEnabled: boolean;
  private monitorProcess: ChildProcess | undefined;
  private running = false;
  private stopped = false;
  private dumping = false;
  private queuedTrigger: SnapshotTrigger | undefined;
  /** Arrival of the first kernel notification that no finished read reflects yet. */
  private unreadEventAt: number | undefined;
  /** A read is scheduled; calling it cancels it. */
  private cancelDump: (() => void) | undefined;
  private startupTimer: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private clockTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private metadataTimer: NodeJS.Timeout | undefined;
  private readonly sysfsCache = new Map<string, SysfsFacts>();
  private readonly batch: IpBatch;
  /** Interface names by index as last read: a rename makes the batch child's name cache stale. */
  private linkNames = new Map<number, string>();
  private readonly seenInterfaces = new Set<string>();
  private lastDumpAt: number | undefined;
  private lastDumpMs = 0;
  /** Reads in the current burst (each starting soon after the previous one). */
  private burstDumps = 0;
  private lastMono = 0;
  private lastWall = 0;

  constructor(private readonly options: InterfaceMonitorOptions = {}) {
    super();
    this.machine = new LocalAddresses(options.policy);
    this.clock = options.clock ?? monotonicClock;
    this.wallClock = options.wallClock ?? Date.now;
    this.ip = options.ipCommand ?? 'ip';
    this.nsArgs = options.netns !== undefined ? ['-n', options.netns] : [];
    this.metadataEnabled = options.interfaceMetadata ?? options.netns === undefined;
    this.batch = new IpBatch({ ipCommand: this.ip, prefixArgs: this.nsArgs, timeoutMs: DUMP_TIMEOUT_MS });
  }

  /** Starts watching; resolves with the locators once the first read is done. */
  async start(): Promise<readonly MonitoredLocator[]> {
    if (this.running || this.stopped) throw new Error('the interface monitor can be started once');
    if (process.platform !== 'linux') throw new Error(`interface monitoring is not implemented on ${process.platform}`);
    this.running = true;
    await this.spawnMonitor();
    // Kernel events during the first read wait for it, so an older read never lands last.
    this.dumping = true;
    try {
      const snapshot = await this.readSnapshot();
      this.feed({ type: 'snapshot', snapshot, trigger: 'initial' });
    } catch (error) {
      await this.stop();
      throw new Error(`cannot read network interfaces: ${(error as Error).message}`, { cause: error });
    } finally {
      this.dumping = false;
    }
    if (this.queuedTrigger !== undefined) this.scheduleDump(0);
    this.startupTimer = setTimeout(() => this.requestDump('recheck'), STARTUP_RECHECK_MS);
    this.startClockWatch();
    if (this.metadataEnabled) this.scheduleMetadata();
    return this.machine.locators();
  }

  /** Stops the `ip monitor` child and every timer. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelDump?.();
    for (const timer of [this.startupTimer, this.stateTimer, this.restartTimer, this.metadataTimer]) clearTimeout(timer);
    clearInterval(this.clockTimer);
    this.batch.close();
    const child = this.monitorProcess;
    this.monitorProcess = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 1_000);
      await closed;
      clearTimeout(killer);
    }
  }

  /** Re-read everything: after resume from sleep (the Electron shell calls this), or on demand. */
  recheck(reason: 'resume' | 'recheck' = 'resume'): void {
    if (!this.running || this.stopped) return;
    this.sysfsCache.clear();
    this.requestDump(reason);
    if (this.metadataEnabled) this.scheduleMetadata();
  }

  setPolicy(policy: Partial<LocalAddressPolicy>): void {
    this.feed({ type: 'policy', policy });
  }

  locators(): readonly MonitoredLocator[] {
    return this.machine.locators();
  }

  policy(): LocalAddressPolicy {
    return this.machine.currentPolicy();
  }

  private async spawnMonitor(): Promise<void> {
    const child = spawn(this.ip, [...this.nsArgs, 'monitor', 'link', 'address', 'route'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.monitorProcess = child;
    let stderr = '';
    child.stdout.on('data', () => {
      this.unreadEventAt ??= this.clock.now();
      this.requestDump('kernel');
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-500);
    });
    child.once('close', (code, signal) => {
      if (this.stopped || this.monitorProcess !== child) return;
      this.monitorProcess = undefined;
      this.emit('warning', `ip monitor exited (${signal ?? `code ${code}`}) ${stderr.trim()}; restarting`);
      this.scheduleMonitorRestart();
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => {
        if (this.monitorProcess === child) this.monitorProcess = undefined;
        reject(new Error(`cannot run ${this.ip} monitor: ${error.message}`));
      });
    });
  }

  /** Events may have been missed while no monitor ran, so a restart is followed by a re-read. */
  private scheduleMonitorRestart(): void {
    this.restartTimer = setTimeout(() => {
      if (this.stopped) return;
      this.spawnMonitor().then(
        () => this.requestDump('recheck'),
        (error: Error) => {
          this.emit('warning', `${error.message}; retrying`);
          this.scheduleMonitorRestart();
        },
      );
    }, RETRY_MS);
  }

  private requestDump(trigger: SnapshotTrigger): void {
    if (this.stopped) return;
    // A resume or clock jump says more about why than the kernel events around it.
    if (this.queuedTrigger === undefined || this.queuedTrigger === 'kernel') this.queuedTrigger = trigger;
    if (trigger !== 'kernel') this.emit('recheck', trigger);
    this.scheduleDump(trigger === 'kernel' ? BURST_SETTLE_MS : 0);
  }

  /** One read at a time; reads that follow each other are spaced so an event storm costs little. */
  private scheduleDump(minimumDelayMs: number): void {
    if (this.dumping || this.cancelDump !== undefined || this.stopped) return;
    let spacing = 0;
    if (this.lastDumpAt !== undefined) {
      const lastEnd = this.lastDumpAt + this.lastDumpMs;
      if (this.clock.now() - lastEnd > QUIET_MS) this.burstDumps = 0;
      const rest = this.burstDumps < QUICK_FOLLOW_UP_DUMPS ? 0 : this.lastDumpMs;
      spacing = lastEnd + rest + MIN_DUMP_SPACING_MS - this.clock.now();
    }
    const run = (): void => {
      this.cancelDump = undefined;
      void this.dumpQueued();
    };
    const delay = Math.max(minimumDelayMs, spacing);
    // A timer waits at least 1 ms; with nothing to wait for, read as soon as the event loop turns.
    if (delay <= 0) {
      const immediate = setImmediate(run);
      this.cancelDump = () => clearImmediate(immediate);
    } else {
      const timer = setTimeout(run, delay);
      this.cancelDump = () => clearTimeout(timer);
    }
  }

  private async dumpQueued(): Promise<void> {
    const trigger = this.queuedTrigger;
    if (trigger === undefined || this.stopped) return;
    this.queuedTrigger = undefined;
    const kernelEventAt = this.unreadEventAt;
    this.unreadEventAt = undefined;
    this.dumping = true;
    this.lastDumpAt = this.clock.now();
    this.burstDumps++;
    try {
      const snapshot = await this.readSnapshot();
      this.lastDumpMs = this.clock.now() - this.lastDumpAt;
      if (this.stopped) return;
      this.feed({ type: 'snapshot', snapshot, trigger }, kernelEventAt === undefined ? {} : { kernelEventAt });
    } catch (error) {
      if (this.stopped) return;
      this.emit('warning', `reading network interfaces failed: ${(error as Error).message}; retrying`);
      this.queuedTrigger ??= trigger;
      this.unreadEventAt ??= kernelEventAt;
      this.dumping = false;
      this.scheduleDump(RETRY_MS);
      return;
    } finally {
      this.dumping = false;
    }
    // Events that arrived while we were reading may describe changes the read missed.
    if (this.queuedTrigger !== undefined) this.scheduleDump(0);
  }

  private async readSnapshot(): Promise<InterfaceSnapshot> {
    let parsed = await this.readOnce();
    // `ip` names a route's device from a cache it keeps for its life; after a rename (udev renames
    // new interfaces right after they appear) that name is stale, so ask a fresh child.
    if (this.renamed(parsed.links)) {
      this.batch.restart();
      parsed = await this.readOnce();
    }
    this.linkNames = new Map(parsed.links.map((link) => [link.ifindex, link.ifname]));
    if (!this.metadataEnabled) return parsed;
    const described = await Promise.all(parsed.links.map((link) => this.describe(link)));
    return { ...parsed, links: described };
  }

  private async readOnce(): Promise<InterfaceSnapshot> {
    const [links = '', addresses = '', routes = ''] = await this.batch.run(['link show', 'addr show', 'route show table all']);
    const parsed = parseSnapshot({ links, addresses, routes });
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  }

  private renamed(links: readonly LinkRecord[]): boolean {
    return links.some((link) => {
      const before = this.linkNames.get(link.ifindex);
      return before !== undefined && before !== link.ifname;
    });
  }

  /** A link with its sysfs facts, read once per interface. */
  private async describe(link: LinkRecord): Promise<LinkRecord> {
    const cacheKey = `${link.ifindex}/${link.ifname}`;
    if (!this.seenInterfaces.has(cacheKey)) {
      this.seenInterfaces.add(cacheKey);
      // A new interface: let systeminformation have a look too.
      if (this.running) this.scheduleMetadata();
    }
    let facts = this.sysfsCache.get(cacheKey);
    if (!facts) {
      facts = await readSysfsFacts(link.ifname);
      this.sysfsCache.set(cacheKey, facts);
    }
    return { ...link, ...facts };
  }

  private scheduleMetadata(): void {
    if (this.metadataTimer !== undefined || this.stopped) return;
    this.metadataTimer = setTimeout(() => {
      void systemInformationMetadata().then((interfaces) => {
        this.metadataTimer = undefined;
        if (!this.stopped && interfaces.length > 0) this.feed({ type: 'metadata', interfaces });
      });
    }, METADATA_SETTLE_MS);
  }

  private startClockWatch(): void {
    const interval = this.options.clockCheckIntervalMs ?? 1_000;
    const tolerance = this.options.clockJumpToleranceMs ?? 1_500;
    this.lastMono = this.clock.now();
    this.lastWall = this.wallClock();
    this.clockTimer = setInterval(() => {
      const mono = this.clock.now();
      const wall = this.wallClock();
      const drift = wall - this.lastWall - (mono - this.lastMono);
      this.lastMono = mono;
      this.lastWall = wall;
      if (Math.abs(drift) > tolerance) this.requestDump('clock-jump');
    }, interval);
    this.clockTimer.unref();
  }

  private feed(event: LocalAddressEvent, timing: ChangeTiming = {}): void {
    if (this.stopped) return;
    this.publish(this.machine.handleEvent(event, this.clock.now()), timing);
  }

  private publish(change: LocatorChange | undefined, timing: ChangeTiming = {}): void {
    if (change) this.emit('change', change, timing);
    this.armStateTimer();
  }

  private armStateTimer(): void {
    clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
    const next = this.machine.nextTimeout();
    if (next === undefined || this.stopped) return;
    this.stateTimer = setTimeout(() => {
      this.stateTimer = undefined;
      if (!this.stopped) this.publish(this.machine.handleTimeout(this.clock.now()));
    }, Math.max(0, next - this.clock.now()));
  }
}

