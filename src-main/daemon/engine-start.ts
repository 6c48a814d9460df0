// Starting the daemon's engine, and saying why it did not start in the one line that tells the
// user what to do. Failures are told apart by their class and code (SocketBindError's errno,
// the address it names), never by the words of their message.

import { HipEngine } from '../engine/engine.js';
import { nodeCrypto } from '../hip/crypto/index.js';
import type { LocalHostIdentity } from '../hip/identity/host-identity.js';
import { ExitCode, SocketBindError, UserError, errorText } from '../base/errors.js';
import type { DaemonOptions } from './daemon.js';
import { devicesFor } from './listen-addresses.js';
import { logLine } from './event-log.js';
import { engineRelays } from './relays.js';

export async function startEngineOnUsableAddresses(opts: DaemonOptions, identity: LocalHostIdentity): Promise<HipEngine> {
  let listen = opts.listen;
  for (;;) {
    try {
      return await launchEngine({ ...opts, listen }, identity);
    } catch (err) {
      const notYet = opts.listenIsDefault === true && err instanceof SocketBindError && err.errno === 'EADDRNOTAVAIL';
      const address = notYet && listen.includes(err.address) ? err.address : undefined;
      if (address === undefined || listen.length === 1) throw startFailure(err, opts);
      opts.log(logLine('warning', { message: `not listening on ${address}: it cannot be bound yet` }));
      listen = listen.filter((a) => a !== address);
    }
  }
}

export async function startEngine(opts: DaemonOptions, identity: LocalHostIdentity, devices?: Record<string, string>): Promise<HipEngine> {
  try {
    return await launchEngine(opts, identity, devices);
  } catch (err) {
    throw startFailure(err, opts);
  }
}

function launchEngine(opts: DaemonOptions, identity: LocalHostIdentity, devices?: Record<string, string>): Promise<HipEngine> {
  return HipEngine.start({
    identity,
    crypto: nodeCrypto,
    addresses: opts.listen,
    port: opts.port,
    acceptAny: opts.acceptAny,
    ...(devices === undefined ? {} : { locators: 'monitor' as const }),
    ...(opts.relays && opts.relays.length > 0 ? { relays: engineRelays(opts.relays) } : {}),
    host: { ...(opts.multihoming === undefined ? {} : { multihoming: opts.multihoming }), ...(opts.inviteHooks ? { invites: opts.inviteHooks } : {}) },
    ...(opts.tun === null ? {} : { tun: { name: opts.tun, create: opts.createTun }, devices: devices ?? devicesFor(opts.listen) }),
  });
}

/** Why the engine did not start, as the one line that says what to do about it. */
function startFailure(err: unknown, opts: DaemonOptions): unknown {
  const message = errorText(err);
  if (err instanceof SocketBindError) {
    return new UserError(`${message}; is another hipvpn serving on that port? choose another with --port, or other addresses with --listen`);
  }
  if (opts.tun !== null) {
    // The platform's reason only; the advice that follows names this state dir.
    const detail = message.replace(/^cannot open TUN \S+: /, '').split(';')[0]!.trim();
    const advice = opts.createTun
      ? 'pick a --tun name no other device uses, or use --tun none (control plane only)'
      : `create it once with \`sudo hipvpn setup --state ${opts.stateDir} --tun ${opts.tun} --user $(id -u)\`, run serve as root, or use --tun none (control plane only)`;
    return new UserError(`cannot open TUN ${opts.tun}: ${detail}; ${advice}`, ExitCode.failure, 'tun-unavailable');
  }
  return err;
}
