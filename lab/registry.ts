// Lab naming and the safety net around it. Every lab object on this machine is named
// `hl-<pid>-<seq>-...` after the process that made it, so that
//  - concurrent test files (node --test runs them in parallel) never touch each other's labs;
//  - a run that was killed outright (SIGKILL, a CI timeout) is recognised by its dead pid and
//    cleaned up by the next lab that starts;
//  - a process that exits in any other way tears its own labs down in an exit hook.

import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSyncQuiet } from './command.js';

export const LAB_PREFIX = 'hl';
const NETNS_DIR = '/run/netns';
const WIREGUARD_SOCKET_DIR = '/var/run/wireguard';

/** What a lab must be able to do synchronously when the process is going away. */
export interface TeardownTarget {
  readonly id: string;
  teardownSync(): void;
}

const live = new Map<string, TeardownTarget>();
let sequence = 0;
let hooksInstalled = false;

export function nextLabId(): string {
  sequence += 1;
  return `${LAB_PREFIX}-${process.pid}-${sequence}`;
}

/** Scratch folder for one lab's files (daemon state, transfer files). */
export function labScratchDir(labId: string): string {
  return join(tmpdir(), labId);
}

export function registerLab(lab: TeardownTarget): void {
  installExitHooks();
  live.set(lab.id, lab);
}

export function unregisterLab(lab: TeardownTarget): void {
  live.delete(lab.id);
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', teardownAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      teardownAllSync();
      process.off(signal, onSignal);
      // Re-raise so the process still ends the way the sender meant.
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function teardownAllSync(): void {
  for (const lab of [...live.values()]) {
    try {
      lab.teardownSync();
    } catch {
      // Best effort: keep going with the other labs.
    }
    live.delete(lab.id);
  }
}

interface LabName {
  readonly pid: number;
  readonly labId: string;
}

function parseLabName(name: string): LabName | undefined {
  const match = /^(hl-(\d+)-\d+)(?:\D|$)/.exec(name);
  if (!match) return undefined;
  return { pid: Number(match[2]), labId: match[1]! };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Kill every process inside a namespace and delete it. Synchronous so exit hooks can use it. */
export function destroyNamespaceSync(netns: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    const pids = runSyncQuiet('ip', ['netns', 'pids', netns])
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
  }
  runSyncQuiet('ip', ['netns', 'del', netns]);
}

/**
 * Remove what earlier runs left behind: labs whose owning process is dead, and (when `includeOwn`
 * is given) labs of this very pid that no live Lab object owns — a pid can be reused.
 * With `everything`, removes every lab object regardless of owner (the CLI's `cleanup --all`).
 * Returns the names removed.
 */
export function cleanupLeftovers(options: { everything?: boolean } = {}): string[] {
  const stale = (name: string): boolean => {
    const parsed = parseLabName(name);
    if (!parsed) return false;
    if (options.everything) return true;
    if (parsed.pid === process.pid) return !live.has(parsed.labId);
    return !processAlive(parsed.pid);
  };
  const removed: string[] = [];
  for (const netns of listDir(NETNS_DIR).filter(stale)) {
    destroyNamespaceSync(netns);
    removed.push(netns);
  }
  for (const entry of listDir(tmpdir()).filter(stale)) {
    rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    removed.push(join(tmpdir(), entry));
  }
  // wireguard-go keeps its control socket in one folder shared by all namespaces.
  for (const socket of listDir(WIREGUARD_SOCKET_DIR).filter(stale)) {
    rmSync(join(WIREGUARD_SOCKET_DIR, socket), { force: true });
    removed.push(join(WIREGUARD_SOCKET_DIR, socket));
  }
  return removed;
}

/** Namespaces that belong to the given lab (used by teardown checks in tests). */
export function namespacesOf(labId: string): string[] {
  return listDir(NETNS_DIR).filter((name) => name === labId || name.startsWith(`${labId}-`));
}
