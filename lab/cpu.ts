// CPU accounting for benchmarks: the whole machine (softirq work of veth and the kernel's
// network stack counts, which per-process numbers miss) and chosen processes (tunnel daemons).

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ, fixed at 100 on Linux for /proc interfaces

interface SystemSample {
  readonly busy: number;
  readonly total: number;
}

function sampleSystem(): SystemSample {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export interface CpuUsage {
  /** Machine-wide busy share over the interval, in percent of all cores together. */
  readonly systemPercent: number;
  /** CPU the watched processes used, in percent of one core. */
  readonly processPercent: number;
  readonly cores: number;
}

export class CpuMeter {
  private readonly startSystem = sampleSystem();
  private readonly startProcesses: number;
  private readonly startedAt = performance.now();

  constructor(private readonly pids: readonly number[] = []) {
    this.startProcesses = this.processTotal();
  }

  stop(): CpuUsage {
    const system = sampleSystem();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const total = system.total - this.startSystem.total;
    return {
      systemPercent: total > 0 ? (100 * (system.busy - this.startSystem.busy)) / total : 0,
      processPercent: seconds > 0 ? (100 * (this.processTotal() - this.startProcesses)) / seconds : 0,
      cores: availableParallelism(),
    };
  }

  private processTotal(): number {
    return this.pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
  }
}

/** CPU time (ns) of the native fast path's packet threads and of the whole daemon that runs them. */
export interface FastPathCpu {
  readonly tx: number;
  readonly rx: number;
  readonly daemon: number;
}

function netnsOf(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function threadCpuNs(pid: string, tid: string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

/**
 * The hipvpn daemon of one lab network namespace, found by its fast path's TX thread
 * ("hipvpn-fp-tx"), and its threads' CPU time from schedstat (ns, so an 8 s run measures to
 * well under 0.1 %): per packet, this holds on a shared machine where throughput does not,
 * since other work delays the threads but does not add to their CPU time.
 */
export class FastPathThreads {
  private constructor(private readonly pid: string) {}

  static find(netns: string): FastPathThreads {
    // /run/netns/NAME is a bind mount of the namespace: its inode is the one /proc/PID/ns/net names.
    const want = `net:[${statSync(`/run/netns/${netns}`).ino}]`;
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      if (netnsOf(pid) !== want) continue;
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      if (tids.some((tid) => threadName(pid, tid) === 'hipvpn-fp-tx')) return new FastPathThreads(pid);
    }
    throw new Error(`no hipvpn fast path threads in netns ${netns} (is the native addon built?)`);
  }

  sample(): FastPathCpu {
    let tx = 0;
    let rx = 0;
    let daemon = 0;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${this.pid}/task`);
    } catch {
      // gone: all zero
    }
    for (const tid of tids) {
      const ns = threadCpuNs(this.pid, tid);
      daemon += ns;
      const name = threadName(this.pid, tid);
      if (name === 'hipvpn-fp-tx') tx += ns;
      else if (name === 'hipvpn-fp-rx') rx += ns;
    }
    return { tx, rx, daemon };
  }
}

function threadName(pid: string, tid: string): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
