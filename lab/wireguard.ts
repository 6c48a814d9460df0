// wireguard-go between two lab hosts: the userspace anchor hipvpn is measured against.
// Both sides run wireguard-go in the foreground (so the lab can stop it) on a TUN of their own.

import { writeFileSync } from 'node:fs';
import { run } from './command.js';
import type { Host } from './host.js';
import type { Lab } from './lab.js';
import type { LabProcess } from './process.js';

export const WIREGUARD_PORT = 51820;
/** Inner addresses: 10.250.0.1 (first host) and 10.250.0.2 (second). */
const INNER_SUBNET = '10.250.0';

export interface WireguardSide {
  readonly host: Host;
  readonly ifname: string;
  /** The address inside the tunnel. */
  readonly innerAddress: string;
  readonly process: LabProcess;
}

export interface WireguardPair {
  readonly sides: readonly [WireguardSide, WireguardSide];
  stop(): Promise<void>;
}

export interface WireguardOptions {
  /** Persistent keepalive in seconds (the handover bench uses 1 s, wireguard's best case). */
  readonly keepaliveSeconds?: number;
  /**
   * The address each side sends to, first's then second's (default: the other's `via` address).
   * null leaves that side without an endpoint: it learns one from the other's handshake and
   * follows it when the other roams, as a server does for road warriors.
   */
  readonly endpoints?: readonly [string | null, string | null];
}

async function keyPair(): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = (await run('wg', ['genkey'])).stdout.trim();
  const publicKey = (await run('wg', ['pubkey'], { input: `${privateKey}\n` })).stdout.trim();
  return { privateKey, publicKey };
}

/**
 * wireguard-go on `first` and `second`, peered over the addresses of their `via` interfaces
 * (or over `options.endpoints`).
 */
export async function startWireguard(
  lab: Lab,
  first: Host,
  second: Host,
  via: string,
  options: WireguardOptions = {},
): Promise<WireguardPair> {
  const hosts = [first, second] as const;
  const keys = await Promise.all(hosts.map(() => keyPair()));
  const sides: WireguardSide[] = [];
  try {
    for (const [index, host] of hosts.entries()) {
      // wireguard-go keeps its control socket at /var/run/wireguard/<ifname>.sock for every
      // namespace alike, so each side needs a name no other side on the machine uses.
      const ifname = lab.uniqueIfname(`wg${index}`);
      const process = host.spawn('wireguard-go', ['-f', ifname], {
        label: `${host.name}:wireguard-go`,
        env: { ...globalThis.process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', LOG_LEVEL: 'error' },
      });
      sides.push({ host, ifname, innerAddress: `${INNER_SUBNET}.${index + 1}`, process });
      await waitForInterface(host, ifname, process);
    }
    // A side that knows no endpoint only answers: configured first, it listens before the other's
    // first handshake, which would otherwise wait out wireguard-go's 5 s retry.
    const endpointOf = (index: number): string | null | undefined => (options.endpoints ? options.endpoints[index] : sides[1 - index]!.host.address(via));
    const order = [0, 1].sort((a, b) => Number(Boolean(endpointOf(a))) - Number(Boolean(endpointOf(b))));
    for (const index of order) {
      const side = sides[index]!;
      const other = sides[1 - index]!;
      const keyFile = `${side.host.scratchDir}/wg-private-key`;
      writeFileSync(keyFile, `${keys[index]!.privateKey}\n`, { mode: 0o600 });
      const endpoint = endpointOf(index);
      const peerArgs = ['peer', keys[1 - index]!.publicKey, 'allowed-ips', `${other.innerAddress}/32`];
      if (endpoint) peerArgs.push('endpoint', `${endpoint}:${WIREGUARD_PORT}`);
      if (options.keepaliveSeconds !== undefined) peerArgs.push('persistent-keepalive', String(options.keepaliveSeconds));
      await side.host.exec('wg', ['set', side.ifname, 'private-key', keyFile, 'listen-port', String(WIREGUARD_PORT), ...peerArgs]);
      await side.host.ip(['addr', 'add', `${side.innerAddress}/24`, 'dev', side.ifname]);
      await side.host.ip(['link', 'set', 'dev', side.ifname, 'up']);
    }
  } catch (error) {
    await Promise.all(sides.map((side) => side.process.stop(1_000)));
    throw error;
  }
  return {
    sides: [sides[0]!, sides[1]!],
    async stop() {
      await Promise.all(sides.map((side) => side.process.stop(2_000)));
    },
  };
}

async function waitForInterface(host: Host, ifname: string, process: LabProcess): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    if (!process.running) throw new Error(`wireguard-go exited on ${host.name}\n${process.tail()}`);
    // `wg show` goes through the control socket, which wireguard-go opens after the TUN.
    const found = await host.exec('wg', ['show', ifname], { allowFailure: true });
    if (found.code === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`wireguard-go on ${host.name} did not open ${ifname}'s control socket\n${process.tail()}`);
}
