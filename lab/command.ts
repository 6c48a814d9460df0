// Running host commands (ip, tc, nft, sysctl, ...) with errors that say what failed.
// Every lab operation goes through here so a failing step names the exact command line.

import { execFile, execFileSync } from 'node:child_process';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall-clock time the command took, in milliseconds. */
  readonly elapsedMs: number;
}

export interface RunOptions {
  /** Resolve with the result instead of rejecting when the command exits non-zero. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export class CommandError extends Error {
  constructor(
    readonly commandLine: string,
    readonly result: CommandResult,
  ) {
    const detail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join('\n');
    super(`command failed (exit ${result.code}): ${commandLine}${detail ? `\n${detail}` : ''}`);
    this.name = 'CommandError';
  }
}

export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: 64 * 1024 * 1024,
        env: options.env ?? process.env,
        cwd: options.cwd,
        killSignal: 'SIGKILL',
      },
      (error, stdout, stderr) => {
        const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        const timedOut = error !== null && error.killed === true;
        const result: CommandResult = {
          code: exitCode,
          stdout,
          stderr: timedOut ? `${stderr}\n(killed after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms)` : stderr,
          elapsedMs: performance.now() - started,
        };
        if (error !== null && (typeof error.code === 'string' || timedOut) && !options.allowFailure) {
          // Spawn failures (ENOENT) and timeouts are never "expected" failures.
          reject(new CommandError(formatCommand(cmd, args), result));
        } else if (exitCode !== 0 && !options.allowFailure) {
          reject(new CommandError(formatCommand(cmd, args), result));
        } else {
          resolve(result);
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/**
 * Synchronous variant for exit hooks, where no event loop turn is left. Never throws: cleanup
 * must go on with the next step even when one fails.
 */
export function runSyncQuiet(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).toString();
  } catch {
    return '';
  }
}
