// The kernel's receive-buffer drops on this process's UDP sockets (Linux). A datagram that
// arrives while a socket's buffer is full is dropped by the kernel before any of our code sees
// it, so no engine counter can count it; /proc/net/udp{,6} keeps a per-socket `drops` column.
// Our sockets are the UDP inodes behind /proc/self/fd: node's dgram sockets, the data-plane
// worker's and the native addon's all live in this process, so one look covers them all.

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Where the counts come from; replaced in tests. */
export interface DropSources {
  /** Inodes of the sockets this process holds open. */
  socketInodes(): Iterable<string>;
  /** The text of /proc/net/udp and /proc/net/udp6 (whichever exist). */
  udpTables(): string[];
}

/**
 * Inode → drops for every socket in a /proc/net/udp or /proc/net/udp6 table. Columns after the
 * header: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops.
 */
export function parseUdpTable(text: string): Map<string, number> {
  const drops = new Map<string, number>();
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 13) continue;
    const count = Number(cols[12]);
    if (Number.isSafeInteger(count) && count >= 0) drops.set(cols[9]!, count);
  }
  return drops;
}

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

export const procDropSources: DropSources = {
  *socketInodes() {
    let fds: string[];
    try {
      fds = readdirSync('/proc/self/fd');
    } catch {
      return; // not Linux, or no /proc: nothing to report
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue; // closed between the listing and the look
      }
      const m = SOCKET_LINK.exec(link);
      if (m) yield m[1]!;
    }
  },
  udpTables() {
    const tables: string[] = [];
    for (const path of ['/proc/self/net/udp', '/proc/self/net/udp6']) {
      try {
        tables.push(readFileSync(path, 'utf8'));
      } catch {
        // no IPv6 (or no /proc): that table has none of our sockets
      }
    }
    return tables;
  },
};

/** Reading /proc costs a directory walk and two table reads: a status poll loop gets this age at most. */
const CACHE_MS = 1_000;

/**
 * The running total of kernel receive drops on our UDP sockets since the process started. The
 * kernel's counter is per socket and starts at 0, so the sum is ours. A socket that closes takes
 * its counter with it: its last seen value stays in the total, which therefore never goes back.
 * (Drops on a socket after the last look before it closed are not seen.)
 */
export class SocketDrops {
  private readonly open = new Map<string, number>();
  private closedTotal = 0;
  private cached: { at: number; total: number } | undefined;

  constructor(private readonly sources: DropSources = procDropSources, private readonly cacheMs = CACHE_MS) {}

  total(now: number): number {
    if (this.cached !== undefined && now - this.cached.at < this.cacheMs) return this.cached.total;
    const ours = new Set(this.sources.socketInodes());
    const seen = new Map<string, number>();
    for (const table of this.sources.udpTables()) {
      for (const [inode, drops] of parseUdpTable(table)) if (ours.has(inode)) seen.set(inode, drops);
    }
    for (const [inode, last] of this.open) if (!seen.has(inode)) this.closedTotal += last;
    this.open.clear();
    let total = this.closedTotal;
    for (const [inode, drops] of seen) {
      this.open.set(inode, drops);
      total += drops;
    }
    this.cached = { at: now, total };
    return total;
  }
}
