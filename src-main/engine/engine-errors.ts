// The engine's refusals that callers tell apart by reason: a ping that got no answer, a failover
// with nowhere to go.

export type PingFailure = 'no-association' | 'not-established' | 'busy' | 'in-flight' | 'timeout' | 'lost';

export class FailoverError extends Error {
  constructor(readonly reason: 'no-association' | 'unknown-pair' | 'no-alternative', message: string) {
    super(message);
    this.name = 'FailoverError';
  }
}

export class PingError extends Error {
  constructor(readonly reason: PingFailure, message: string) {
    super(message);
    this.name = 'PingError';
  }
}
