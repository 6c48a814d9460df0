// Two network namespaces joined by a veth pair, each running lab/dataplane-host.ts
// with a real TUN: what the data-plane system tests and bench build on. Everything created is
// named with this process's id and removed by teardown(), which never throws.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { saveIdentity } from '../src-main/platform/key-store.js';
import { generateIdentity } from '../src-main/hip/identity/host-identity.js';
import { nodeCrypto } from '../src-main/hip/crypto/index.js';
import { hitToText } from '../src-main/hip/wire/address.js';

const HOST_SCRIPT = fileURLToPath(new URL('./dataplane-host.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../', import.meta.url));

export function sh(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function inNs(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number } = {}): string {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

export interface LabHost {
  ns: string;
  addr: string;
  hit: string;
  /** Our own LSI. */
  lsi: string;
  /** The LSI this host gives the other host. */
  peerLsi: string;
  proc: ChildProcess;
  events: Array<Record<string, unknown>>;
  /** Resolves with the first JSON line matching. */
  waitFor(match: (o: Record<string, unknown>) => boolean, ms?: number, what?: string): Promise<Record<string, unknown>>;
  command(line: string): void;
  /** How it was started, so a test can restart it. */
  start: { state: string; peers: string[]; env: NodeJS.ProcessEnv };
}

export class DataplaneLab {
  readonly nsA: string;
  readonly nsB: string;
  readonly addrA = '10.231.0.1';
  readonly addrB = '10.231.0.2';
  hosts: LabHost[] = [];
  private readonly stateDir = mkdtempSync(join(tmpdir(), 'hipvpn-dp-'));
  private readonly tag = `${process.pid % 100000}`;

  constructor() {
    this.nsA = `hipdpA${this.tag}`;
    this.nsB = `hipdpB${this.tag}`;
  }

  /** Namespaces and the veth link between them (1500 MTU, like an Ethernet). */
  setupNetwork(): void {
    sh('ip', ['netns', 'add', this.nsA]);
    sh('ip', ['netns', 'add', this.nsB]);
    const va = `dpa${this.tag}`;
    const vb = `dpb${this.tag}`;
    sh('ip', ['link', 'add', va, 'type', 'veth', 'peer', 'name', vb]);
    sh('ip', ['link', 'set', va, 'netns', this.nsA]);
    sh('ip', ['link', 'set', vb, 'netns', this.nsB]);
    for (const [ns, dev, addr] of [[this.nsA, va, this.addrA], [this.nsB, vb, this.addrB]] as const) {
      inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
      inNs(ns, 'ip', ['addr', 'add', `${addr}/24`, 'dev', dev]);
      inNs(ns, 'ip', ['link', 'set', dev, 'up']);
    }
  }

  /** Starts both hosts: A knows B's locator, B waits to be contacted. Resolves when both are established. */
  async startHosts(env: NodeJS.ProcessEnv = {}): Promise<[LabHost, LabHost]> {
    const idA = generateIdentity(nodeCrypto, 'ecdsa-p256');
    const idB = generateIdentity(nodeCrypto, 'ecdsa-p256');
    await saveIdentity(join(this.stateDir, 'a'), idA);
    await saveIdentity(join(this.stateDir, 'b'), idB);
    const hitA = hitToText(idA.hit);
    const hitB = hitToText(idB.hit);
    const b = await this.startHost(this.nsB, join(this.stateDir, 'b'), this.addrB, [hitA], env);
    const a = await this.startHost(this.nsA, join(this.stateDir, 'a'), this.addrA, [`${hitB}@${this.addrB}:10500`], env);
    await Promise.all([
      a.waitFor((o) => o['event'] === 'established', 10_000, 'A established'),
      b.waitFor((o) => o['event'] === 'established', 10_000, 'B established'),
    ]);
    return [a, b];
  }

  private async startHost(ns: string, state: string, addr: string, peers: string[], env: NodeJS.ProcessEnv): Promise<LabHost> {
    const args = ['netns', 'exec', ns, process.execPath, '--import', 'tsx', HOST_SCRIPT, '--state', state, '--addr', addr, '--tun', 'hip0'];
    for (const p of peers) args.push('--peer', p);
    const proc = spawn('ip', args, { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    const events: Array<Record<string, unknown>> = [];
    const waiters: Array<{ match: (o: Record<string, unknown>) => boolean; resolve: (o: Record<string, unknown>) => void }> = [];
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      events.push(o);
      for (const w of [...waiters]) {
        if (w.match(o)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(o);
        }
      }
    });
    const waitFor = (match: (o: Record<string, unknown>) => boolean, ms = 10_000, what = 'event'): Promise<Record<string, unknown>> => {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${ns}: no ${what} within ${ms} ms; saw ${JSON.stringify(events.slice(-5))}`)), ms);
        waiters.push({ match, resolve: (o) => { clearTimeout(t); resolve(o); } });
      });
    };
    const host: LabHost = {
      ns, addr, hit: '', lsi: '', peerLsi: '', proc, events, waitFor,
      command: (line) => proc.stdin.write(`${line}\n`),
      start: { state, peers, env },
    };
    this.hosts.push(host);
    const ready = await Promise.race([
      waitFor((o) => o['type'] === 'ready' || o['type'] === 'fatal', 15_000, 'ready'),
      new Promise<never>((_r, reject) => proc.once('exit', (code) => reject(new Error(`${ns}: host exited with ${code}`)))),
    ]);
    if (ready['type'] === 'fatal') throw new Error(`${ns}: ${String(ready['message'])}`);
    host.hit = String(ready['hit']);
    host.lsi = String(ready['lsi']);
    host.peerLsi = String((ready['peers'] as Array<{ lsi: string }>)[0]?.lsi ?? '');
    return host;
  }

  /** Kills a host (SIGKILL: no CLOSE reaches the peer) and starts it again with the same identity. */
  async restartHost(host: LabHost): Promise<LabHost> {
    await new Promise<void>((resolve) => {
      if (host.proc.exitCode !== null || host.proc.signalCode !== null) return resolve();
      host.proc.once('exit', () => resolve());
      host.proc.kill('SIGKILL');
    });
    return this.startHost(host.ns, host.start.state, host.addr, host.start.peers, host.start.env);
  }

  async teardown(): Promise<void> {
    await Promise.all(this.hosts.map((h) => new Promise<void>((resolve) => {
      if (h.proc.exitCode !== null || h.proc.signalCode !== null) return resolve();
      const t = setTimeout(() => { h.proc.kill('SIGKILL'); resolve(); }, 3000);
      h.proc.once('exit', () => { clearTimeout(t); resolve(); });
      h.proc.kill('SIGTERM');
    })));
    for (const ns of [this.nsA, this.nsB]) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        // never created, or already gone
      }
    }
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
