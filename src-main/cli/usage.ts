// What `hipvpn help` and `hipvpn COMMAND --help` print. Each command's synopsis is written once,
// here, and the overview is assembled from them, so the two never disagree. The ranges stated
// are the ones the parser enforces (hipvpn.ts passes the same constants).

import { DEFAULT_PORT } from '../daemon/peer-input.js';

export const LIMITS = {
  port: { min: 0, max: 65535 },
  count: { min: 1, max: 100_000 },
  timeoutMs: { min: 1, max: 60_000 },
  intervalMs: { min: 1, max: 60_000 },
  /** The TUN carries IPv6 (HITs), and IPv6 needs links of at least 1280 octets (RFC 8200 §5). */
  mtu: { min: 1280, max: 65535 },
  /** uid_t and gid_t are 32 bits; (uid_t)-1 means "unchanged" to chown(2). */
  id: { min: 0, max: 4_294_967_294 },
} as const;

export const DEFAULT_WEB_PORT = 7777;

interface CommandHelp {
  /** Lines after "hipvpn ", the first being the command itself. */
  synopsis: string[];
  /** What the command does, in a sentence or two. */
  about: string;
  options: Array<[flag: string, meaning: string]>;
}

const STATE_OPTION: [string, string] = ['--state DIR', 'the directory holding this host\'s identity and peers (default: $HIPVPN_STATE)'];
const range = (r: { min: number; max: number }): string => `${r.min}..${r.max}`;

const COMMAND_HELP: Record<string, CommandHelp> = {
  identity: {
    synopsis: ['identity --state DIR [--hit]'],
    about: 'Prints this host\'s HIT and LSI as JSON; the host key is created on first use.',
    options: [STATE_OPTION, ['--hit', 'print only the HIT, as `peer add --hit` takes it']],
  },
  serve: {
    synopsis: [
      `serve --state DIR [--port ${DEFAULT_PORT}] [--listen ADDR ...] [--tun NAME|none] [--accept-any]`,
      '      [--multihoming fault-tolerance|simultaneous] [--relay HIT@ADDR[:PORT] ...]',
    ],
    about: 'Runs the engine in the foreground until SIGINT or SIGTERM. Without --listen it follows the interfaces: '
      + 'addresses that appear become locators and every peer is moved to a working pair when an uplink goes away or goes silent.',
    options: [
      STATE_OPTION,
      ['--port N', `UDP port for HIP and ESP, ${range(LIMITS.port)} (0 picks a free one; default ${DEFAULT_PORT})`],
      ['--listen ADDR', 'a local IP address to listen on; repeat for several (default: follow the interfaces)'],
      ['--tun NAME|none', 'the TUN device (default hip0); none runs the control plane only: base exchanges, status and ping, no traffic'],
      ['--accept-any', 'admit a base exchange from any HIT, not only listed peers'],
      ['--multihoming MODE', 'fault-tolerance (one SA, one pair at a time) or simultaneous (an SA pair per uplink); default: the settings'],
      ['--relay HIT@ADDR[:PORT]', `a relay to register with and reach peers through (IPv6 as HIT@[ADDR]:PORT; port default ${DEFAULT_PORT}); repeat for several; added to the relays setting for this run`],
    ],
  },
  peer: {
    synopsis: [],
    about: 'Edits the peer list (the allow-list): through the daemon when it runs, else in DIR/peers.json.',
    options: [],
  },
  invite: {
    synopsis: ['invite --state DIR [--name NAME] [--expires DURATION]'],
    about: 'Prints a one-time invite: this host\'s HIT, name and locators and a secret. `hipvpn peer add --invite TEXT` on the other host '
      + 'adds us; its first base exchange proves the secret and our daemon adds it under NAME. Needs the daemon running.',
    options: [
      STATE_OPTION,
      ['--name NAME', 'what this host will call the invitee (default guest-XXXXXX)'],
      ['--expires DURATION', 'how long the invite can be used: 90s, 30m, 24h, 7d (1m..30d; default 24h)'],
    ],
  },
  'peer add': {
    synopsis: ['peer add NAME (--hit HIT [--locator IP[:PORT] ...] [--relay HIT@ADDR[:PORT]] | --invite TEXT) --state DIR'],
    about: 'Adds a peer, or replaces the one with that NAME. NAME: up to 63 letters, digits, ".", "_", "-", starting with a letter or digit.',
    options: [
      STATE_OPTION,
      ['--hit HIT', 'the peer\'s HIT (IPv6 text in 2001:20::/28, as its `hipvpn identity` prints it)'],
      ['--invite TEXT', 'an invite another host\'s `hipvpn invite` printed: adds that host (as NAME, or the name in the invite) in one step'],
      ['--locator IP[:PORT]', `where to reach it (IPv6 with a port as [ADDR]:PORT; port 1..65535, default ${DEFAULT_PORT}); repeat for several; none: it contacts us, or we reach it through a relay`],
      ['--relay HIT@ADDR[:PORT]', 'the relay the peer registered with, used when it has no locator (default: our own relays, `serve --relay`)'],
    ],
  },
  'peer remove': {
    synopsis: ['peer remove NAME --state DIR'],
    about: 'Removes a peer; a running daemon closes its association at once.',
    options: [STATE_OPTION],
  },
  'peer list': {
    synopsis: ['peer list --state DIR [--json]'],
    about: 'Lists the peers with their HITs and locators.',
    options: [STATE_OPTION, ['--json', 'print {"peers": [...]} as JSON']],
  },
  status: {
    synopsis: ['status --state DIR [--json]'],
    about: 'Shows the running daemon: identity, listening sockets, every peer\'s association, locator pairs and counters.',
    options: [STATE_OPTION, ['--json', 'print the control API\'s status object as JSON']],
  },
  ping: {
    synopsis: ['ping PEER --state DIR [--count N] [--timeout MS] [--interval MS]'],
    about: 'HIP-level ping of PEER (a name or a HIT), running a base exchange first if needed.',
    options: [
      STATE_OPTION,
      ['--count N', `pings to send, ${range(LIMITS.count)} (default 1)`],
      ['--timeout MS', `how long to wait for each, ${range(LIMITS.timeoutMs)} ms (default 5000)`],
      ['--interval MS', `pause between pings, ${range(LIMITS.intervalMs)} ms (default 1000)`],
    ],
  },
  failover: {
    synopsis: ['failover PEER --state DIR [--to LOCAL,REMOTE]'],
    about: 'Moves the traffic of PEER (a name or a HIT) off its locator pair now, to the best other one or onto the one named.',
    options: [STATE_OPTION, ['--to LOCAL,REMOTE', 'our address and the peer\'s, as `hipvpn status` lists the pairs']],
  },
  flow: {
    synopsis: [],
    about: 'Binds flows (traffic to a peer, by protocol and ports) to an uplink, as the UI\'s Flow bindings view does. Needs the daemon running.',
    options: [],
  },
  'flow set': {
    synopsis: ['flow set PEER --fid N --protocol any|tcp|udp|icmp [--remote-ports A[-B]] [--local-ports A[-B]] [--interface IFACE] [--policy prefer|only] --state DIR'],
    about: 'Adds the flow binding with that FID, or replaces it: the flow\'s packets to PEER (a name on the peer list) go over IFACE, '
      + 'or follow the peer\'s primary pair without --interface. The lowest FID wins where flows overlap.',
    options: [
      STATE_OPTION,
      ['--fid N', 'the flow\'s identifier, 1..65535, unique on this host'],
      ['--protocol P', 'any, tcp, udp or icmp (icmp has no ports)'],
      ['--remote-ports A[-B]', 'the peer\'s port or port range, 1..65535 (default: all)'],
      ['--local-ports A[-B]', 'this host\'s port or port range, 1..65535 (default: all)'],
      ['--interface IFACE', 'the uplink the flow should use, as `hipvpn status` names it (default: the peer\'s primary pair)'],
      ['--policy prefer|only', 'while IFACE has no working pair: prefer falls back to the best other uplink (default); only never sends the flow on another, its packets are dropped until IFACE works'],
    ],
  },
  'flow list': {
    synopsis: ['flow list --state DIR [--json]'],
    about: 'Lists the flow bindings: FID, peer, traffic, interface, state (bound, pending, fallback, or peer removed) and the pair the flow takes now.',
    options: [STATE_OPTION, ['--json', 'print {"flows": [...]}, the status\'s flows as the control API reports them']],
  },
  'flow remove': {
    synopsis: ['flow remove FID --state DIR'],
    about: 'Removes the flow binding with that FID; its traffic follows the peer\'s primary pair again.',
    options: [STATE_OPTION],
  },
  setup: {
    synopsis: ['setup --state DIR --tun NAME --user UID[:GID] [--mtu N]      (root, once)'],
    about: 'Creates a persistent TUN owned by that user and hands the state dir to them; afterwards '
      + '`hipvpn serve --state DIR --tun NAME` runs as that user, unprivileged.',
    options: [
      STATE_OPTION,
      ['--tun NAME', 'the device to create (up to 15 letters, digits, "_", ".", "-")'],
      ['--user UID[:GID]', `who will run serve, as \`id -u\` and \`id -g\` print them (${range(LIMITS.id)}); without GID, their primary group`],
      ['--mtu N', `the device's MTU, ${range(LIMITS.mtu)} (default 1400)`],
    ],
  },
  web: {
    synopsis: [`web --state DIR [--port ${DEFAULT_WEB_PORT}] [--ui DIR] [--serve [--tun NAME|none]]`],
    about: 'Serves the UI to a browser on 127.0.0.1 and prints its address with the access token (also kept in DIR/web-token).',
    options: [
      STATE_OPTION,
      ['--port N', `TCP port, ${range(LIMITS.port)} (0 picks a free one; default ${DEFAULT_WEB_PORT})`],
      ['--ui DIR', 'the built UI (default dist/renderer)'],
      ['--serve', 'host the engine in this process when no `hipvpn serve` runs'],
      ['--tun NAME|none', 'with --serve: the TUN device (default hip0)'],
    ],
  },
  relay: {
    synopsis: [],
    about: 'Runs a relay and rendezvous server for hosts behind NATs (RFC 8003, 8004, 9028), and shows it.',
    options: [],
  },
  'relay serve': {
    synopsis: [`relay serve --state DIR [--listen ADDR ...] [--port ${DEFAULT_PORT}] [--accept-any]`],
    about: 'Runs the relay in the foreground until SIGINT or SIGTERM: unprivileged, plain UDP, no TUN. Its clients are its peer list '
      + '(`hipvpn peer add NAME --hit HIT --state DIR`); their registrations are kept in DIR/registrations.json across restarts.',
    options: [
      STATE_OPTION,
      ['--listen ADDR', 'a local IP address to listen on; repeat for several (default: this host\'s addresses)'],
      ['--port N', `UDP port for HIP and ESP, ${range(LIMITS.port)} (0 picks a free one; default ${DEFAULT_PORT})`],
      ['--accept-any', 'serve any host that completes a base exchange, not only listed clients'],
    ],
  },
  'relay status': {
    synopsis: ['relay status --state DIR [--json]'],
    about: 'Shows the running relay: its HIT and sockets, every client with its registrations and reflexive address, and what it dropped and why.',
    options: [STATE_OPTION, ['--json', 'print the control API\'s relay.status object as JSON']],
  },
};

const PEER_SUBCOMMANDS = ['peer add', 'peer remove', 'peer list'];
const RELAY_SUBCOMMANDS = ['relay serve', 'relay status'];
const FLOW_SUBCOMMANDS = ['flow set', 'flow list', 'flow remove'];
/** Commands in the order the overview lists them. */
const OVERVIEW_ORDER = ['identity', 'serve', ...PEER_SUBCOMMANDS, 'invite', 'status', 'ping', 'failover', ...FLOW_SUBCOMMANDS, 'setup', 'web', ...RELAY_SUBCOMMANDS];

export function overview(): string {
  const lines = OVERVIEW_ORDER.flatMap((name) => COMMAND_HELP[name]!.synopsis.map((s, i) => `  ${i === 0 ? 'hipvpn ' : '       '}${s}`));
  return [
    'usage:',
    ...lines,
    '',
    '  `hipvpn COMMAND --help` describes a command and its options.',
    '  The state dir must belong to the user running the daemon and be writable by nobody else (chmod 700).',
    '  Exit status: 0 ok, 1 failure, 2 bad command line, 3 daemon not running.',
  ].join('\n');
}

/** `hipvpn NAME --help` for a command ("serve") or subcommand ("peer add"); undefined if unknown. */
export function commandHelp(name: string): string | undefined {
  const help = COMMAND_HELP[name];
  if (!help) return undefined;
  const width = Math.max(0, ...help.options.map(([flag]) => flag.length));
  // `peer`, `relay` and `flow` alone have no synopsis of their own: their subcommands' are their usage.
  const subcommands = ({ peer: PEER_SUBCOMMANDS, relay: RELAY_SUBCOMMANDS, flow: FLOW_SUBCOMMANDS } as Record<string, string[]>)[name];
  const synopsis = subcommands ? subcommands.map((s) => `hipvpn ${COMMAND_HELP[s]!.synopsis[0]!}`) : [`hipvpn ${help.synopsis[0]!}`, ...help.synopsis.slice(1).map((s) => `       ${s}`)];
  return [
    ...synopsis.map((s, i) => `${i === 0 ? 'usage: ' : '       '}${s}`),
    '',
    help.about,
    ...(help.options.length ? ['', 'options:', ...help.options.map(([flag, meaning]) => `  ${flag.padEnd(width)}  ${meaning}`)] : []),
  ].join('\n');
}
