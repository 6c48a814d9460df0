// Errors a user can act on. Each carries the one line the CLI prints and the exit status
// scripts can test, so every failure path ends the same way: one clear line, non-zero exit.

export const ExitCode = {
  ok: 0,
  /** Something went wrong at run time: unknown peer, no answer, a TUN that would not open. */
  failure: 1,
  /** The command line itself is wrong: unknown command, malformed HIT or locator, missing flag. */
  usage: 2,
  /** The daemon this command needs is not running for that state dir. */
  notRunning: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Failures a caller reacts to rather than only reports: a UI hosting the engine uses the daemon
 * already running instead (already-running), or starts without a tunnel (tun-unavailable).
 */
export type UserErrorCode = 'already-running' | 'tun-unavailable';

export class UserError extends Error {
  constructor(message: string, readonly exitCode: ExitCode = ExitCode.failure, readonly code?: UserErrorCode) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * A UDP socket that could not be bound: which address and port, and the system's error code
 * (EADDRNOTAVAIL: the address is not, or not yet, assigned; EADDRINUSE: the port is taken).
 */
export class SocketBindError extends Error {
  constructor(readonly address: string, readonly port: number, readonly errno: string | undefined, readonly reason: string) {
    super(`cannot bind UDP ${address}:${port}: ${reason}`);
    this.name = 'SocketBindError';
  }
}

export function usageError(message: string): UserError {
  return new UserError(message, ExitCode.usage);
}

export function notRunningError(stateDir: string): UserError {
  return new UserError(
    `hipvpn is not running for state dir ${stateDir}; start it with \`hipvpn serve --state ${stateDir}\``,
    ExitCode.notRunning,
  );
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
