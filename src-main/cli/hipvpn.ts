// `hipvpn`: the headless daemon and its command line. `serve` runs the engine in the
// foreground; every other command talks to it over the control socket in the state dir, or,
// for the peer list, edits peers.json when no daemon runs. Every failure ends in one line on
// stderr that says what to do, and a non-zero exit status (see base/errors.ts).

import { chmod, chown, lchown, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hitToText } from '../hip/wire/address.js';
import { ownLsiFor } from '../engine/peers.js';
import { peerConfig, type PeerConfig, type RelayConfig } from '../../src-shared/control-api.js';
import { parseRelayText, relayText } from '../../src-shared/relay-text.js';
import { endpointText, formatPairs, formatRelays, formatStatus } from '../../src-shared/status-format.js';
import { formatRelayStatus } from '../../src-shared/relay-status-format.js';
import { connectControl } from '../daemon/control-client.js';
import { ApiError, type ApiClient } from '../../src-shared/api-client.js';
import { ExitCode, UserError, errorText, usageError } from '../base/errors.js';
import { logLine } from '../daemon/event-log.js';
import { DEFAULT_PORT, canonicalHit, normalizePeer, parseLocator, parsePeerName, parsePeerRef, withPeer } from '../daemon/peer-input.js';
import { decodeInvite } from '../daemon/invite-text.js';
import { loadPeers, savePeers } from '../daemon/peer-store.js';
import { ensureStateDir, stateDir, type StateDir } from '../daemon/state-dir.js';
import { armSeqRunOut, testSeqLeft } from '../daemon/test-hooks.js';
import { SEE_HELP, parse, wantsHelp, wholeNumber } from './args.js';
import { DEFAULT_WEB_PORT, LIMITS, commandHelp, overview } from './usage.js';
import { bindingText, flowRemoveFid, flowSetBinding, formatFlows } from './flow-text.js';

/** The TUN `serve` attaches to when none is named. */
const DEFAULT_TUN = 'hip0';
/** Linux interface names: IFNAMSIZ - 1 characters, no slashes or spaces. */
const TUN_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

const STATE = { state: { type: 'string' } } as const;

function requireState(value: unknown): StateDir {
  const dir = typeof value === 'string' && value !== '' ? value : process.env.HIPVPN_STATE;
  if (!dir) throw usageError('missing --state DIR (the directory holding this host\'s identity and peers)');
  return stateDir(dir);
}

/** A name or HIT as every command that takes a PEER reads it (one parser: one message, exit 2). */
function requirePeerRef(command: string, text: string | undefined): string {
  if (!text) throw usageError(`hipvpn ${command} needs a PEER (name or HIT)${SEE_HELP}`);
  const ref = parsePeerRef(text);
  if (!ref.ok) throw usageError(ref.error);
  return text;
}

/**
 * The host identity, created on first use. Imported on demand with the daemon: `status` and
 * `ping` only talk to the socket, and a user waits for every module a command loads.
 */
async function localIdentity(root: string) {
  const [{ loadOrCreateIdentity }, { nodeCrypto }] = await Promise.all([
    import('../platform/key-store.js'),
    import('../hip/crypto/index.js'),
  ]);
  return loadOrCreateIdentity(root, nodeCrypto);
}

async function withDaemon<T>(dir: StateDir, f: (c: ApiClient) => Promise<T>): Promise<T> {
  const client = await connectControl(dir.socket, dir.root);
  try {
    return await f(client);
  } finally {
    client.close();
  }
}

async function daemonIfRunning(dir: StateDir): Promise<ApiClient | undefined> {
  try {
    return await connectControl(dir.socket, dir.root);
  } catch (err) {
    if (err instanceof UserError && err.exitCode === ExitCode.notRunning) return undefined;
    throw err;
  }
}

const print = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);

// ---------------------------------------------------------------------------------------------
// Commands

async function identity(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, hit: { type: 'boolean' } }, 0);
  const dir = requireState(values.state);
  await ensureStateDir(dir);
  const id = await localIdentity(dir.root);
  if (values.hit) return print(hitToText(id.hit));
  print(`{"hit": ${JSON.stringify(hitToText(id.hit))}, "lsi": ${JSON.stringify(ownLsiFor(id.hit))}}`);
}

/** `--listen` as given, each checked to be an IP address; without it, this host's addresses. */
async function listenAddresses(given: string[] | undefined): Promise<string[]> {
  const listen = given ?? (await import('../daemon/listen-addresses.js')).defaultListenAddresses().map((a) => a.address);
  for (const a of listen) {
    const l = parseLocator(a);
    if (!l.ok || l.value.address !== a) throw usageError(`--listen ${JSON.stringify(a)} is not an IP address`);
  }
  if (listen.length === 0) throw new UserError('no local address to listen on; name one with --listen ADDR');
  return listen;
}

/** SIGINT or SIGTERM stops the daemon cleanly; a second one ends the process at once. */
function stopOnSignals(daemon: { stop(reason: string): Promise<void> }, log: (line: string) => void): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log(logLine('forced-exit', { signal }));
      process.exit(ExitCode.failure);
    }
    void daemon.stop(signal).then(() => process.exit(ExitCode.ok));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

async function serve(args: string[]): Promise<void> {
  const { values } = parse(args, {
    ...STATE, port: { type: 'string' }, listen: { type: 'string', multiple: true }, tun: { type: 'string' }, 'accept-any': { type: 'boolean' },
    multihoming: { type: 'string' }, relay: { type: 'string', multiple: true },
  }, 0);
  const relays = (values.relay ?? []).map(relayOption);
  // Absent, the daemon takes the mode from the user's settings (failover or load sharing).
  const multihoming = values.multihoming;
  if (multihoming !== undefined && multihoming !== 'fault-tolerance' && multihoming !== 'simultaneous') {
    throw usageError(`--multihoming must be fault-tolerance or simultaneous, not ${JSON.stringify(multihoming)}`);
  }
  const dir = requireState(values.state);
  const port = wholeNumber('port', values.port, LIMITS.port, DEFAULT_PORT);
  const tunArg = values.tun ?? DEFAULT_TUN;
  if (tunArg !== 'none' && !TUN_NAME.test(tunArg)) throw usageError(`--tun ${JSON.stringify(tunArg)} is not an interface name (up to 15 letters, digits, "_", ".", "-"), or none`);
  const listen = await listenAddresses(values.listen);
  let seqLeft: number | undefined;
  try {
    seqLeft = testSeqLeft(process.env);
  } catch (err) {
    throw usageError(errorText(err));
  }

  const log = (line: string): void => print(line);
  const { Daemon } = await import('../daemon/daemon.js');
  const daemon = await Daemon.start({
    stateDir: dir.root,
    port,
    listen,
    listenIsDefault: values.listen === undefined,
    tun: tunArg === 'none' ? null : tunArg,
    createTun: process.getuid?.() === 0,
    acceptAny: values['accept-any'] === true,
    ...(multihoming === undefined ? {} : { multihoming }),
    ...(relays.length > 0 ? { relays } : {}),
    log,
  });
  if (seqLeft !== undefined) {
    log(logLine('warning', { message: `test hook armed: HIPVPN_TEST_SEQ_LEFT=${seqLeft}; SIGUSR2 moves further SAs near the end of their sequence space` }));
    armSeqRunOut(seqLeft, (left) => daemon.testSeqRunOut(left));
  }
  stopOnSignals(daemon, log);
}

async function peer(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add': return peerAdd(rest);
    case 'remove': return peerRemove(rest);
    case 'list': return peerList(rest);
    default: throw usageError(`hipvpn peer needs add, remove or list${sub ? `, not ${JSON.stringify(sub)}` : ''}${SEE_HELP}`);
  }
}

/** `--relay HIT@ADDR[:PORT]`, or a usage error that says what to type. */
function relayOption(text: string): RelayConfig {
  const r = parseRelayText(text);
  if (!r.ok) throw usageError(`--relay: ${r.error}`);
  return r.value;
}

function describePeer(p: PeerConfig): string {
  const where = p.locators.length ? `at ${p.locators.map(endpointText).join(', ')}` : p.relay ? 'with no locator' : 'with no locator: it contacts us';
  return `${p.name} (${p.hit}) ${where}${p.relay ? `, through relay ${relayText(p.relay)}` : ''}`;
}

async function peerAdd(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    ...STATE, hit: { type: 'string' }, locator: { type: 'string', multiple: true }, invite: { type: 'string' }, relay: { type: 'string' },
  }, 1);
  const dir = requireState(values.state);
  const name = positionals[0];
  if (values.invite !== undefined) return peerAddInvite(dir, values.invite, name, values.hit !== undefined || values.locator !== undefined || values.relay !== undefined);
  if (!name) throw usageError(`hipvpn peer add needs a NAME${SEE_HELP}`);
  const checkedName = parsePeerName(name);
  if (!checkedName.ok) throw usageError(checkedName.error);
  if (!values.hit) throw usageError(`hipvpn peer add ${name} needs --hit HIT (the peer's \`hipvpn identity\` prints it)`);
  const hit = canonicalHit(values.hit);
  if (!hit.ok) throw usageError(hit.error);
  const locators = (values.locator ?? []).map((text) => {
    const l = parseLocator(text);
    if (!l.ok) throw usageError(l.error);
    return l.value;
  });
  const relay = values.relay === undefined ? undefined : relayOption(values.relay);
  const checked = normalizePeer({ name, hit: hit.value, locators, ...(relay ? { relay } : {}) });
  if (!checked.ok) throw usageError(checked.error);
  const shape = peerConfig.check(checked.value);
  if (!shape.ok) throw usageError(`peer ${name}: ${shape.error}`);

  const client = await daemonIfRunning(dir);
  if (client) {
    try {
      const r = await client.call('peer.add', checked.value);
      print(`${r.replaced ? 'updated' : 'added'} peer ${describePeer(r.peer)}; the daemon applied it`);
    } finally {
      client.close();
    }
    return;
  }
  await ensureStateDir(dir);
  const own = await localIdentity(dir.root);
  if (hitToText(own.hit) === hit.value) throw usageError(`${hit.value} is this host's own HIT`);
  const next = withPeer(await loadPeers(dir.peers), checked.value);
  if (!next.ok) throw new UserError(next.error);
  await savePeers(dir.peers, next.value.peers);
  print(`${next.value.replaced ? 'updated' : 'added'} peer ${describePeer(checked.value)}; saved to ${dir.peers} for when hipvpn serve starts`);
}

async function peerAddInvite(dir: StateDir, text: string, name: string | undefined, extra: boolean): Promise<void> {
  if (extra) throw usageError('--invite carries the HIT, locators and relay; give it without --hit, --locator or --relay');
  if (name !== undefined) {
    const checkedName = parsePeerName(name);
    if (!checkedName.ok) throw usageError(checkedName.error);
  }
  const parsed = decodeInvite(text);
  if (!parsed.ok) throw usageError(parsed.error);
  const client = await daemonIfRunning(dir);
  if (client) {
    try {
      const r = await client.call('invite.accept', { text, ...(name === undefined ? {} : { name }) });
      print(`added peer ${describePeer(r.peer)} from its invite; the daemon applied it`);
    } finally {
      client.close();
    }
    return;
  }
  await ensureStateDir(dir);
  const own = await localIdentity(dir.root);
  if (hitToText(own.hit) === parsed.value.hit) throw usageError('this invite is from this host itself');
  const { InviteBook } = await import('../daemon/invite-book.js');
  let peer: PeerConfig;
  try {
    peer = await (await InviteBook.open(dir.root)).accept(text, name);
  } catch (err) {
    throw new UserError(errorText(err));
  }
  const next = withPeer(await loadPeers(dir.peers), peer);
  if (!next.ok) throw new UserError(next.error);
  await savePeers(dir.peers, next.value.peers);
  print(`added peer ${describePeer(peer)} from its invite; saved to ${dir.peers} for when hipvpn serve starts`);
}

/** 90s, 30m, 24h, 7d, or plain seconds. */
function durationSeconds(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m?.[2] ?? ''] ?? 1;
  const seconds = m ? Number(m[1]) * unit : NaN;
  if (!(seconds >= 60 && seconds <= 30 * 86_400)) throw usageError(`--expires must be a duration from 1m to 30d, like 90s, 30m, 24h or 7d, not ${JSON.stringify(text)}`);
  return seconds;
}

async function invite(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, name: { type: 'string' }, expires: { type: 'string' } }, 0);
  const dir = requireState(values.state);
  if (values.name !== undefined) {
    const checkedName = parsePeerName(values.name);
    if (!checkedName.ok) throw usageError(checkedName.error);
  }
  const expiresSeconds = values.expires === undefined ? undefined : durationSeconds(values.expires);
  const r = await withDaemon(dir, (c) => c.call('invite.create', {
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(expiresSeconds === undefined ? {} : { expiresSeconds }),
  }));
  print(r.text);
  process.stderr.write(`one use, until ${new Date(r.expiresAt * 1000).toISOString()}; on the other host: hipvpn peer add --invite '${r.text}' --state DIR\n`);
}

async function peerRemove(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, STATE, 1);
  const dir = requireState(values.state);
  const name = positionals[0];
  if (!name) throw usageError(`hipvpn peer remove needs a NAME${SEE_HELP}`);
  const checkedName = parsePeerName(name);
  if (!checkedName.ok) throw usageError(checkedName.error);
  const client = await daemonIfRunning(dir);
  if (client) {
    try {
      const r = await client.call('peer.remove', { name });
      print(`removed peer ${describePeer(r.removed)}; the daemon applied it`);
    } finally {
      client.close();
    }
    return;
  }
  const peers = await loadPeers(dir.peers);
  const removed = peers.find((p) => p.name === name);
  if (!removed) {
    const known = peers.map((p) => p.name);
    throw new UserError(`unknown peer ${JSON.stringify(name)}${known.length ? ` (known: ${known.join(', ')})` : ' (no peers configured)'}`);
  }
  await savePeers(dir.peers, peers.filter((p) => p !== removed));
  print(`removed peer ${describePeer(removed)}; saved to ${dir.peers}`);
}

async function peerList(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, json: { type: 'boolean' } }, 0);
  const dir = requireState(values.state);
  const client = await daemonIfRunning(dir);
  let peers: PeerConfig[];
  if (client) {
    try {
      peers = (await client.call('peer.list', {})).peers;
    } finally {
      client.close();
    }
  } else {
    peers = await loadPeers(dir.peers);
  }
  if (values.json) print(JSON.stringify({ peers }, null, 2));
  else print(peers.length ? peers.map(describePeer).join('\n') : 'no peers');
}

async function status(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, json: { type: 'boolean' } }, 0);
  const dir = requireState(values.state);
  const s = await withDaemon(dir, (c) => c.call('status', {}));
  print(values.json ? JSON.stringify(s, null, 2) : `${formatStatus(s)}${formatRelays(s)}${formatPairs(s)}`.trimEnd());
}

async function failover(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { ...STATE, to: { type: 'string' } }, 1);
  const dir = requireState(values.state);
  const target = requirePeerRef('failover', positionals[0]);
  let to: { local: string; remote: string } | undefined;
  if (values.to !== undefined) {
    const parts = values.to.split(',');
    const [local, remote] = parts.map((p) => parseLocator(p.trim()));
    if (parts.length !== 2 || !local?.ok || !remote?.ok) {
      throw usageError(`--to ${JSON.stringify(values.to)} must be LOCAL,REMOTE: our address and the peer's (see \`hipvpn status\`)`);
    }
    to = { local: local.value.address, remote: remote.value.address };
  }
  await withDaemon(dir, async (c) => {
    const moved = to === undefined
      ? (await c.call('failover', { peer: target })).handovers
      : [(await c.call('pair.use', { peer: target, local: { address: to.local, port: 0 }, remote: { address: to.remote, port: 0 } })).handover];
    const done = moved.filter((h) => h !== null);
    if (done.length === 0) print(`${target}: already on that pair; it is pinned there and being re-checked`);
    for (const h of done) {
      print(`${h.peer ?? h.hit}: ${h.from ? `${endpointText(h.from.local)} -> ${endpointText(h.from.remote)}` : '-'} => ${endpointText(h.to.local)} -> ${endpointText(h.to.remote)} (${h.to.interface ?? h.to.kind})`);
    }
  });
}

async function ping(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { ...STATE, count: { type: 'string' }, timeout: { type: 'string' }, interval: { type: 'string' } }, 1);
  const dir = requireState(values.state);
  const target = requirePeerRef('ping', positionals[0]);
  const count = wholeNumber('count', values.count, LIMITS.count, 1);
  const timeoutMs = wholeNumber('timeout', values.timeout, LIMITS.timeoutMs, 5000);
  const intervalMs = wholeNumber('interval', values.interval, LIMITS.intervalMs, 1000);
  await withDaemon(dir, async (c) => {
    const rtts: number[] = [];
    let lastError: ApiError | undefined;
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, intervalMs));
      try {
        const r = await c.call('ping', { peer: target, timeoutMs }, timeoutMs + 5000);
        rtts.push(r.rttMs);
        print(`pong from ${r.name ?? '(unlisted)'} (${r.hit}) via ${endpointText(r.local)} <-> ${endpointText(r.remote)} in ${r.rttMs.toFixed(2)}ms`);
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 'ping-failed' || count === 1) throw err;
        lastError = err;
        print(`no pong: ${err.message}`);
      }
    }
    if (count > 1) {
      const stats = rtts.length
        ? `, rtt min/avg/max ${Math.min(...rtts).toFixed(2)}/${(rtts.reduce((a, b) => a + b, 0) / rtts.length).toFixed(2)}/${Math.max(...rtts).toFixed(2)} ms`
        : '';
      print(`${count} sent, ${rtts.length} answered${stats}`);
    }
    if (rtts.length === 0 && lastError) throw lastError;
  });
}

/** UID[:GID]; without a GID, the user's primary group from /etc/passwd (else GID = UID). */
async function parseOwner(text: string): Promise<{ uid: number; gid: number }> {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  const inRange = (n: string | undefined): boolean => n === undefined || Number(n) <= LIMITS.id.max;
  if (!m || !inRange(m[1]) || !inRange(m[2])) {
    throw usageError(`--user ${JSON.stringify(text)} must be UID or UID:GID, whole numbers ${LIMITS.id.min}..${LIMITS.id.max} (as \`id -u\` and \`id -g\` print them)`);
  }
  const uid = Number(m[1]);
  if (m[2] !== undefined) return { uid, gid: Number(m[2]) };
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const line = passwd.split('\n').map((l) => l.split(':')).find((f) => f[2] === String(uid));
  return { uid, gid: line?.[3] !== undefined ? Number(line[3]) : uid };
}

/**
 * The state dir and everything in it become the serving user's, writable by nobody else, as
 * serve's ownership check wants them. lchown: a link planted in the dir is never followed by
 * root to chown the file it points at.
 */
async function handOverStateDir(dir: StateDir, owner: { uid: number; gid: number }): Promise<void> {
  await chown(dir.root, owner.uid, owner.gid);
  await chmod(dir.root, (await stat(dir.root)).mode & 0o755);
  for (const name of await readdir(dir.root)) await lchown(join(dir.root, name), owner.uid, owner.gid);
}

async function setup(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, tun: { type: 'string' }, user: { type: 'string' }, mtu: { type: 'string' } }, 0);
  const dir = requireState(values.state);
  if (!values.tun || values.tun === 'none' || !TUN_NAME.test(values.tun)) throw usageError('hipvpn setup needs --tun NAME (an interface name of up to 15 characters)');
  if (!values.user) throw usageError('hipvpn setup needs --user UID[:GID], the user who will run `hipvpn serve`');
  const owner = await parseOwner(values.user);
  const mtu = wholeNumber('mtu', values.mtu, LIMITS.mtu, 1400);
  if (process.getuid?.() !== 0) throw new UserError(`hipvpn setup creates a network device and needs root: run it with sudo`);
  await ensureStateDir(dir);
  const id = await localIdentity(dir.root);
  await handOverStateDir(dir, owner);
  const { createPersistentTun, assignTunAddresses } = await import('../platform/tun.js');
  const lsi = ownLsiFor(id.hit);
  try {
    createPersistentTun(values.tun, owner);
    assignTunAddresses(values.tun, id.hit, lsi, mtu);
  } catch (err) {
    throw new UserError(`cannot set up TUN ${values.tun}: ${errorText(err)}`);
  }
  print(`TUN ${values.tun} ready for uid ${owner.uid}: HIT ${hitToText(id.hit)}, LSI ${lsi}, MTU ${mtu}; now run \`hipvpn serve --state ${dir.root} --tun ${values.tun}\` as that user`);
}

/** The browser UI; imported on demand like the daemon (it brings an HTTP and WebSocket server). */
async function web(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, port: { type: 'string' }, ui: { type: 'string' }, serve: { type: 'boolean' }, tun: { type: 'string' } }, 0);
  const dir = requireState(values.state);
  const port = wholeNumber('port', values.port, LIMITS.port, DEFAULT_WEB_PORT);
  const tunArg = values.tun ?? DEFAULT_TUN;
  if (values.tun !== undefined && !values.serve) throw usageError('--tun goes with --serve (hipvpn web hosts the engine only then)');
  if (tunArg !== 'none' && !TUN_NAME.test(tunArg)) throw usageError(`--tun ${JSON.stringify(tunArg)} is not an interface name (up to 15 letters, digits, "_", ".", "-"), or none`);
  const { runWeb } = await import('../web/web-command.js');
  const running = await runWeb({
    state: dir.root, port, print,
    ...(values.ui ? { uiDir: values.ui } : {}),
    ...(values.serve ? { serve: { tun: tunArg === 'none' ? null : tunArg } } : {}),
  });
  const stop = (): void => void running.stop().then(() => process.exit(ExitCode.ok));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function relay(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'serve': return relayServe(rest);
    case 'status': return relayStatus(rest);
    default: throw usageError(`hipvpn relay needs serve or status${sub ? `, not ${JSON.stringify(sub)}` : ''}${SEE_HELP}`);
  }
}

/** The relay daemon: imported on demand like `serve`'s. */
async function relayServe(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, port: { type: 'string' }, listen: { type: 'string', multiple: true }, 'accept-any': { type: 'boolean' } }, 0);
  const dir = requireState(values.state);
  const port = wholeNumber('port', values.port, LIMITS.port, DEFAULT_PORT);
  const listen = await listenAddresses(values.listen);
  const log = (line: string): void => print(line);
  const { RelayDaemon } = await import('../daemon/relay-daemon.js');
  const daemon = await RelayDaemon.start({ stateDir: dir.root, port, listen, acceptAny: values['accept-any'] === true, log });
  stopOnSignals(daemon, log);
}

async function relayStatus(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, json: { type: 'boolean' } }, 0);
  const dir = requireState(values.state);
  const s = await withDaemon(dir, (c) => c.call('relay.status', {}));
  print(values.json ? JSON.stringify(s, null, 2) : formatRelayStatus(s));
}

async function flow(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'set': return flowSet(rest);
    case 'list': return flowList(rest);
    case 'remove': return flowRemove(rest);
    default: throw usageError(`hipvpn flow needs set, list or remove${sub ? `, not ${JSON.stringify(sub)}` : ''}${SEE_HELP}`);
  }
}

async function flowSet(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, {
    ...STATE, fid: { type: 'string' }, protocol: { type: 'string' }, 'remote-ports': { type: 'string' }, 'local-ports': { type: 'string' }, interface: { type: 'string' },
    policy: { type: 'string' },
  }, 1);
  const dir = requireState(values.state);
  if (!positionals[0]) throw usageError(`hipvpn flow set needs a PEER (a name or HIT on the peer list)${SEE_HELP}`);
  const ref = parsePeerRef(positionals[0]);
  if (!ref.ok) throw usageError(ref.error);
  // The flags are checked before the daemon is asked. A binding names its peer as the peer list
  // does, so a HIT is looked up there afterwards; until then a stand-in name takes its place.
  const binding = flowSetBinding(ref.value.kind === 'name' ? ref.value.name : 'peer-by-hit', values);
  if (!binding.ok) throw usageError(binding.error);
  const r = await withDaemon(dir, async (c) => {
    if (ref.value.kind === 'name') return c.call('flow.set', binding.value);
    const { hit } = ref.value;
    const peer = (await c.call('peer.list', {})).peers.find((p) => {
      const listed = canonicalHit(p.hit);
      return listed.ok && listed.value === hit;
    });
    if (!peer) throw new UserError(`no peer on the peer list has HIT ${hit}; add it with \`hipvpn peer add NAME --hit ${hit}\` first`);
    return c.call('flow.set', { ...binding.value, peer: peer.name });
  });
  print(`${r.replaced ? 'updated' : 'added'} flow ${bindingText(r.flow)}`);
}

async function flowList(args: string[]): Promise<void> {
  const { values } = parse(args, { ...STATE, json: { type: 'boolean' } }, 0);
  const dir = requireState(values.state);
  const s = await withDaemon(dir, (c) => c.call('status', {}));
  if (s.flows === undefined) throw new UserError('this daemon does not report flow bindings; update hipvpn and restart `hipvpn serve`');
  print(values.json ? JSON.stringify({ flows: s.flows }, null, 2) : formatFlows(s.flows));
}

async function flowRemove(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, STATE, 1);
  const dir = requireState(values.state);
  if (positionals[0] === undefined) throw usageError(`hipvpn flow remove needs a FID (\`hipvpn flow list\` shows them)${SEE_HELP}`);
  const fid = flowRemoveFid(positionals[0]);
  if (!fid.ok) throw usageError(fid.error);
  const r = await withDaemon(dir, (c) => c.call('flow.remove', { fid: fid.value }));
  print(`removed flow ${bindingText(r.removed)}; its traffic follows the peer's primary pair`);
}

// ---------------------------------------------------------------------------------------------

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { identity, serve, peer, invite, status, ping, failover, flow, setup, web, relay };

/** Exit status for a refusal from the daemon: bad input is a usage error, the rest failures. */
function exitCodeFor(code: ApiError['code']): ExitCode {
  return code === 'invalid-params' ? ExitCode.usage : ExitCode.failure;
}

/** The help for `hipvpn COMMAND [SUBCOMMAND]`: a peer subcommand's own, else the command's. */
function helpFor(command: string, args: readonly string[]): string {
  const sub = (command === 'peer' || command === 'relay' || command === 'flow') && args[0] !== undefined ? commandHelp(`${command} ${args[0]}`) : undefined;
  const help = sub ?? commandHelp(command);
  if (help === undefined) throw usageError(`unknown command ${JSON.stringify(command)}${SEE_HELP}`);
  return help;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === 'help' && args[0] !== undefined) return print(helpFor(args[0], args.slice(1)));
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    print(overview());
    if (command === undefined) process.exitCode = ExitCode.usage;
    return;
  }
  const run = COMMANDS[command];
  if (!run) throw usageError(`unknown command ${JSON.stringify(command)}${SEE_HELP}`);
  if (wantsHelp(args)) return print(helpFor(command, args));
  await run(args);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  let code: ExitCode = ExitCode.failure;
  let message = errorText(err);
  if (err instanceof UserError) code = err.exitCode;
  else if (err instanceof ApiError) code = exitCodeFor(err.code);
  else if (!(err instanceof Error) || err.stack === undefined) message = String(err);
  process.stderr.write(`hipvpn: ${message}\n`);
  process.exit(code);
});
