// A long-running process inside a lab host (a daemon, an iperf3 server): its output is kept
// line by line so tests can wait for a line and print the log when something goes wrong.

import { spawn, type ChildProcess } from 'node:child_process';
import { formatCommand } from './command.js';

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** Short label used in echoed output and error messages (default: the command's base name). */
  readonly label?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Called with every output line as it arrives (the demo prints them live). */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Keep the process's stdin open for send() (for tools driven by commands). */
  readonly stdin?: boolean;
}

const MAX_KEPT_LINES = 20_000;

export class LabProcess {
  readonly label: string;
  readonly commandLine: string;
  readonly lines: string[] = [];
  readonly exited: Promise<ProcessExit>;
  private exit: ProcessExit | undefined;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(cmd: string, args: readonly string[], options: SpawnOptions = {}) {
    this.label = options.label ?? cmd.split('/').pop() ?? cmd;
    this.commandLine = formatCommand(cmd, args);
    this.child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    // A tool that exits while we write to it must not take the test down with EPIPE.
    this.child.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.push(`spawn error: ${error.message}`, 'stderr', options.onLine);
        this.exit ??= { code: null, signal: null };
        resolve(this.exit);
      });
      this.child.once('close', (code, signal) => {
        this.exit ??= { code, signal };
        this.notify();
        resolve(this.exit);
      });
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      let partial = '';
      this.child[stream]?.setEncoding('utf8');
      this.child[stream]?.on('data', (chunk: string) => {
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) this.push(line, stream, options.onLine);
      });
      this.child[stream]?.on('end', () => {
        if (partial) this.push(partial, stream, options.onLine);
        partial = '';
      });
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get exitStatus(): ProcessExit | undefined {
    return this.exit;
  }

  output(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the first line (already seen or still to come) that matches. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let scanned = 0;
      const check = (): boolean => {
        for (; scanned < this.lines.length; scanned++) {
          const line = this.lines[scanned]!;
          if (pattern.test(line)) {
            finish();
            resolve(line);
            return true;
          }
        }
        if (this.exit !== undefined) {
          finish();
          reject(new Error(`${this.label} exited (${describeExit(this.exit)}) before printing ${pattern}\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.label}: no line matching ${pattern} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = (): void => void check();
      if (!check()) this.waiters.add(waiter);
    });
  }

  /** SIGTERM, then SIGKILL if the process is still there after graceMs. */
  async stop(graceMs = 3_000): Promise<ProcessExit> {
    if (this.exit !== undefined) return this.exit;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  /** Write one line to the process's stdin (spawned with `stdin: true`). */
  send(line: string): void {
    if (!this.child.stdin) throw new Error(`${this.label} was not started with stdin: true`);
    if (this.exit === undefined) this.child.stdin.write(`${line}\n`);
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exit !== undefined || this.child.pid === undefined) return;
    try {
      this.child.kill(signal);
    } catch {
      // Already gone: the close event will report it.
    }
  }

  /** The last lines of output, indented, for error messages. */
  tail(count = 30): string {
    return this.lines
      .slice(-count)
      .map((line) => `    [${this.label}] ${line}`)
      .join('\n');
  }

  private push(line: string, stream: 'stdout' | 'stderr', onLine: SpawnOptions['onLine']): void {
    this.lines.push(line);
    if (this.lines.length > MAX_KEPT_LINES) this.lines.splice(0, this.lines.length - MAX_KEPT_LINES);
    onLine?.(line, stream);
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

export function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code ?? 'unknown'}`;
}
