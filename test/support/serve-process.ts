// `hipvpn serve --tun none` as a real subprocess on loopback, and the `hipvpn` command beside
// it, for tests that check what an operator sees: the daemon's log lines, `status` and its exit
// statuses. The process is node itself running bin/hipvpn.mjs, so its pid is the daemon's.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, 'bin', 'hipvpn.mjs');

export interface CliRun { code: number; stdout: string; stderr: string }

export function hipvpn(...args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: REPO, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A fresh state dir under a new temporary folder (the caller removes `root`). */
export async function tempState(name: string): Promise<{ root: string; state: string }> {
  const root = await mkdtemp(join(tmpdir(), `hipvpn-${name}-`));
  return { root, state: join(root, 'state') };
}

export class ServeProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  /** UDP port per listen address, from the daemon's `listening` line. */
  readonly ports = new Map<string, number>();
  private readonly proc: ChildProcess;
  private readonly waiters: Array<() => void> = [];

  private constructor(readonly state: string, command: readonly string[]) {
    const args = [BIN, ...command];
    this.proc = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let partial = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      this.lines.push(...parts);
      for (const w of this.waiters.splice(0)) w();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.lines.push(`stderr: ${chunk.trim()}`));
    this.exited = new Promise((resolve) => this.proc.on('exit', (code) => {
      for (const w of this.waiters.splice(0)) w();
      resolve(code);
    }));
  }

  /**
   * Starts a daemon listening on `listen` (one socket each), with `extra` serve flags, and waits
   * for its `listening` line; a daemon that never says it listens is killed, not left behind.
   */
  static start(state: string, listen: readonly string[] = ['127.0.0.1'], extra: readonly string[] = []): Promise<ServeProcess> {
    const command = ['serve', '--state', state, '--port', '0', ...listen.flatMap((a) => ['--listen', a]), '--tun', 'none', ...extra];
    return ServeProcess.run(state, command, / listening /);
  }

  /** `hipvpn relay serve` the same way, waiting for its `relay-listening` line. */
  static startRelay(state: string, listen: readonly string[] = ['127.0.0.1'], extra: readonly string[] = [], port = 0): Promise<ServeProcess> {
    const command = ['relay', 'serve', '--state', state, '--port', String(port), ...listen.flatMap((a) => ['--listen', a]), ...extra];
    return ServeProcess.run(state, command, / relay-listening /);
  }

  private static async run(state: string, command: readonly string[], ready: RegExp): Promise<ServeProcess> {
    const p = new ServeProcess(state, command);
    let line: string;
    try {
      line = await p.line(ready, 20_000);
    } catch (err) {
      p.signal('SIGKILL');
      throw err;
    }
    for (const m of /udp=(\S+)/.exec(line)![1]!.split(',')) {
      const at = m.lastIndexOf(':');
      p.ports.set(m.slice(0, at), Number(m.slice(at + 1)));
    }
    return p;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  port(address = '127.0.0.1'): number {
    const port = this.ports.get(address);
    if (port === undefined) throw new Error(`the daemon of ${this.state} does not listen on ${address}`);
    return port;
  }

  /** The log lines matching `re` so far. */
  matching(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }

  /** The first log line matching `re`, waiting up to `ms` for it. */
  async line(re: RegExp, ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find((l) => re.test(l));
      if (hit !== undefined) return hit;
      if (Date.now() > deadline || this.proc.exitCode !== null) {
        throw new Error(`no log line matching ${re} from the daemon of ${this.state}; log:\n${this.lines.join('\n')}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.proc.exitCode === null) this.proc.kill(signal);
    return this.exited;
  }
}
