// Hooks for system tests only, armed by the daemon's environment and never by the control API:
// nothing the UI or a peer sends reaches them, and a daemon started without the variable has
// none. Whoever sets a daemon's environment or sends it a signal already controls the process.
//
// HIPVPN_TEST_SEQ_LEFT=N (1 .. 2^24): on SIGUSR2, every further outbound SA (simultaneous
// multihoming) that carries a peer's traffic in the native fast path seals its next packet N
// sequence numbers before the end of its 32-bit space, so that a test sees that SA run out and
// be rekeyed at a moment of its choosing instead of after 2^32 packets.

import { ESP_SEQ_REKEY_THRESHOLD } from '../esp/sa.js';

/** The most sequence numbers left the hook sets: at most the rekey threshold's margin, so the rekey is asked for at once. */
const MAX_SEQ_LEFT = 2 ** 32 - ESP_SEQ_REKEY_THRESHOLD;

/** N from HIPVPN_TEST_SEQ_LEFT, undefined when unset; a value that is not 1 .. 2^24 is refused. */
export function testSeqLeft(env: NodeJS.ProcessEnv): number | undefined {
  const text = env['HIPVPN_TEST_SEQ_LEFT'];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || n < 1 || n > MAX_SEQ_LEFT) throw new RangeError(`HIPVPN_TEST_SEQ_LEFT must be a whole number from 1 to ${MAX_SEQ_LEFT}, not ${JSON.stringify(text)}`);
  return n;
}

/** Arms the hook: each SIGUSR2 runs `runOut(left)`. Returns how to disarm it. */
export function armSeqRunOut(left: number, runOut: (left: number) => void): () => void {
  const onSignal = (): void => runOut(left);
  process.on('SIGUSR2', onSignal);
  return () => {
    process.off('SIGUSR2', onSignal);
  };
}
