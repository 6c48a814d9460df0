// A long-lived `ip -json -d -batch -` child that answers dump requests written to its stdin.
//
// Spawning `ip` for every re-read costs 2–6 ms (fork, exec, netlink socket setup), and a re-read
// sits on the path from a kernel event to a handover. A batch process that stays up answers the
// same three dumps in well under a millisecond: iproute2 flushes stdout after each JSON document,
// so the answer arrives per command even through a pipe.
//
// One request at a time (the interface monitor already serialises its reads). Any failure — the
// child exiting (ip leaves batch mode on the first failing command), a timeout, garbled output —
// rejects the request and drops the child; the next request starts a fresh one.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface IpBatchOptions {
  readonly ipCommand: string;
  /** Arguments before `-json` (e.g. `-n NETNS`). */
  readonly prefixArgs: readonly string[];
  readonly timeoutMs: number;
}

interface Pending {
  readonly expected: number;
  readonly documents: string[];
  resolve(documents: string[]): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class IpBatch {
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private partial = '';
  private stderr = '';
  private closed = false;

  constructor(private readonly options: IpBatchOptions) {}

  /**
   * Runs `commands` (one per line, each printing exactly one JSON document) and resolves with
   * the documents in order.
   */
  run(commands: readonly string[]): Promise<string[]> {
    if (this.closed) return Promise.reject(new Error('ip batch reader closed'));
    if (this.pending) return Promise.reject(new Error('ip batch reader busy'));
    let child: ChildProcessWithoutNullStreams;
    try {
      child = this.child ?? this.start();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      this.pending = { expected: commands.length, documents: [], resolve, reject, timer };
      child.stdin.write(commands.map((command) => `${command}\n`).join(''));
    });
  }

  /** The next request goes to a fresh child (between requests). */
  restart(): void {
    if (!this.pending) this.drop();
  }

  /** Ends the child; a request in flight is rejected. Safe to call twice. */
  close(): void {
    this.closed = true;
    this.fail(new Error('ip batch reader closed'));
  }

  private start(): ChildProcessWithoutNullStreams {
    const { ipCommand, prefixArgs } = this.options;
    const child = spawn(ipCommand, [...prefixArgs, '-json', '-d', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.partial = '';
    this.stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (this.child === child) this.take(chunk);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (this.child === child) this.stderr = (this.stderr + chunk).slice(-500);
    });
    // A write racing the child's death: the 'close' handler reports it.
    child.stdin.on('error', () => undefined);
    child.once('error', (error) => {
      if (this.child === child) this.fail(new Error(`cannot run ${ipCommand}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      if (this.child === child) this.fail(new Error(`${ipCommand} -batch exited (${signal ?? `code ${code}`}) ${this.stderr.trim()}`.trim()));
    });
    return child;
  }

  private take(chunk: string): void {
    this.partial += chunk;
    const pending = this.pending;
    if (!pending) {
      // Output nobody asked for: the child is out of step with us, start over.
      this.fail(new Error('ip printed output nobody asked for'));
      return;
    }
    let newline: number;
    while ((newline = this.partial.indexOf('\n')) !== -1) {
      const line = this.partial.slice(0, newline);
      this.partial = this.partial.slice(newline + 1);
      if (line.trim() !== '') pending.documents.push(line);
    }
    if (pending.documents.length < pending.expected) return;
    clearTimeout(pending.timer);
    this.pending = undefined;
    if (pending.documents.length > pending.expected || this.partial.trim() !== '') {
      this.drop();
      pending.reject(new Error(`ip printed ${pending.documents.length} documents, expected ${pending.expected}`));
      return;
    }
    pending.resolve(pending.documents);
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    this.drop();
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  private drop(): void {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.stdin.end();
      child.kill('SIGKILL');
    }
  }
}
