// `hipvpn flow set|list|remove` as a user runs it, against real daemons on loopback
// (`--tun none`): the bindings it makes are the control API's, a mistake in a flag gets the
// message the UI's flow form shows for that field, a refusal by the daemon is word for word what
// the control API says to any client (the UI shows those too), and a binding whose peer was
// removed says so in `flow list` and in its JSON.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connectControl } from '../../src-main/daemon/control-client.js';
import { ApiError } from '../../src-shared/api-client.js';
import { checkFlowForm, type FlowField, type FlowForm } from '../../src-shared/forms.js';
import type { FlowBinding } from '../../src-shared/control-api.js';
import { ServeProcess, hipvpn, tempState, type CliRun } from '../support/serve-process.js';

const roots: string[] = [];
const daemons: ServeProcess[] = [];

after(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function state(name: string): Promise<string> {
  const s = await tempState(name);
  roots.push(s.root);
  return s.state;
}

async function serve(dir: string): Promise<ServeProcess> {
  const d = await ServeProcess.start(dir);
  daemons.push(d);
  return d;
}

/** A few command lines at once: many CLI start-ups together would outlast its timeout on 2 cores. */
async function each(lines: string[][], atOnce = 4): Promise<CliRun[]> {
  const out: CliRun[] = [];
  for (let i = 0; i < lines.length; i += atOnce) out.push(...await Promise.all(lines.slice(i, i + atOnce).map((l) => hipvpn(...l))));
  return out;
}

function ok(r: CliRun, label: string): string {
  assert.equal(r.code, 0, `${label}: ${r.stderr}`);
  assert.equal(r.stderr, '', label);
  return r.stdout;
}

/** What the control API answers any client for `method` (the message the UI shows). */
async function apiRefusal(dir: string, method: 'flow.set' | 'flow.remove', params: FlowBinding | { fid: number }): Promise<{ code: string; message: string }> {
  const c = await connectControl(join(dir, 'hipvpn.sock'), dir);
  try {
    await (method === 'flow.set' ? c.call('flow.set', params as FlowBinding) : c.call('flow.remove', params));
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    return { code: err.code, message: err.message };
  } finally {
    c.close();
  }
  throw new Error(`the daemon accepted ${method} ${JSON.stringify(params)}`);
}

const FORM: FlowForm = { fid: '5', peer: 'bob', protocol: 'udp', remotePorts: '', localPorts: '', interface: '' };
/** The UI form's message for one bad field. */
function formMessage(field: FlowField, text: string): string {
  const r = checkFlowForm({ ...FORM, [field]: text });
  assert.ok(!r.ok && r.errors[field] !== undefined, `the form refuses ${field} ${JSON.stringify(text)}`);
  return r.errors[field];
}

test('every mistake in a flag gets the UI form\'s message for that field, exit 2, before any daemon is asked', async () => {
  const dir = await state('flow-usage');
  const set = ['flow', 'set', 'bob', '--state', dir];
  const cases: Array<{ args: string[]; message: string }> = [
    { args: [...set, '--protocol', 'udp'], message: `--fid: ${formMessage('fid', '')}` },
    { args: [...set, '--fid', '0', '--protocol', 'udp'], message: `--fid: ${formMessage('fid', '0')}` },
    { args: [...set, '--fid', '65536', '--protocol', 'udp'], message: `--fid: ${formMessage('fid', '65536')}` },
    { args: [...set, '--fid', 'seven', '--protocol', 'udp'], message: `--fid: ${formMessage('fid', 'seven')}` },
    { args: [...set, '--fid', '5'], message: `--protocol: ${formMessage('protocol', '')}` },
    { args: [...set, '--fid', '5', '--protocol', 'sctp'], message: `--protocol: ${formMessage('protocol', 'sctp')}` },
    { args: [...set, '--fid', '5', '--protocol', 'udp', '--remote-ports', 'http'], message: `--remote-ports: ${formMessage('remotePorts', 'http')}` },
    { args: [...set, '--fid', '5', '--protocol', 'udp', '--remote-ports', '90-80'], message: `--remote-ports: ${formMessage('remotePorts', '90-80')}` },
    { args: [...set, '--fid', '5', '--protocol', 'udp', '--local-ports', '0'], message: `--local-ports: ${formMessage('localPorts', '0')}` },
    { args: [...set, '--fid', '5', '--protocol', 'udp', '--local-ports', '5000-70000'], message: `--local-ports: ${formMessage('localPorts', '5000-70000')}` },
    { args: [...set, '--fid', '5', '--protocol', 'udp', '--interface', 'wlan/0'], message: `--interface: ${formMessage('interface', 'wlan/0')}` },
    { args: [...set, '--fid', '5', '--protocol', 'udp', '--interface', 'wlan0', '--policy', 'always'], message: `--policy: ${formMessage('policy', 'always')}` },
    { args: [...set, '--fid', '5', '--protocol', 'udp', '--policy', 'only'], message: `--policy: ${formMessage('policy', 'only')}` },
    // Several at once: all of them, on one line, in the order of the synopsis.
    { args: [...set, '--fid', '0', '--protocol', 'sctp'], message: `--fid: ${formMessage('fid', '0')} --protocol: ${formMessage('protocol', 'sctp')}` },
    { args: ['flow', 'set', '--fid', '5', '--protocol', 'udp', '--state', dir], message: 'hipvpn flow set needs a PEER (a name or HIT on the peer list); run `hipvpn help` for usage' },
    { args: ['flow', 'remove', '0', '--state', dir], message: `FID "0": ${formMessage('fid', '0')}` },
    { args: ['flow', 'remove', '--state', dir], message: 'hipvpn flow remove needs a FID (`hipvpn flow list` shows them); run `hipvpn help` for usage' },
    { args: ['flow', 'move', '--state', dir], message: 'hipvpn flow needs set, list or remove, not "move"; run `hipvpn help` for usage' },
  ];
  // The form's words, not some other wording: a person sees these next to the field in the UI.
  assert.equal(cases[1]!.message, '--fid: The flow ID is a whole number 1..65535.');
  assert.equal(cases[7]!.message, '--remote-ports: Ports are 1..65535 and a range ends after it starts.');
  assert.equal(cases[12]!.message, '--policy: Policy "only" keeps the flow on its interface: choose one.');
  const runs = await each(cases.map((c) => c.args));
  cases.forEach((c, i) => {
    const label = `hipvpn ${c.args.join(' ')}`;
    assert.equal(runs[i]!.stderr, `hipvpn: ${c.message}\n`, label);
    assert.equal(runs[i]!.code, 2, label);
    assert.equal(runs[i]!.stdout, '', label);
  });

  // PEER is read as every command reads it (a name, or a HIT when it has a ":"): the same refusal as ping's.
  const peers = await each([['flow', 'set', 'b b', '--fid', '5', '--protocol', 'udp', '--state', dir], ['ping', 'b b', '--state', dir],
    ['flow', 'set', '2001:zz::1', '--fid', '5', '--protocol', 'udp', '--state', dir], ['ping', '2001:zz::1', '--state', dir]]);
  for (const i of [0, 2]) {
    assert.match(peers[i]!.stderr, /^hipvpn: (bad peer name|malformed HIT) /);
    assert.equal(peers[i]!.stderr, peers[i + 1]!.stderr);
    assert.equal(peers[i]!.code, 2);
  }

  // Each subcommand's help, and `flow --help` lists all three.
  const helps = await each([['flow', '--help'], ['flow', 'set', '--help'], ['flow', 'list', '--help'], ['flow', 'remove', '--help']]);
  assert.match(ok(helps[0]!, 'flow --help'), /^usage: hipvpn flow set PEER .*\n {7}hipvpn flow list .*\n {7}hipvpn flow remove FID /);
  for (const [i, sub] of [[1, 'set PEER --fid N --protocol any|tcp|udp|icmp'], [2, 'list --state DIR'], [3, 'remove FID --state DIR']] as const) {
    assert.ok(ok(helps[i]!, sub).startsWith(`usage: hipvpn flow ${sub}`), helps[i]!.stdout);
  }

  // Good flags and no daemon: the message every command gives, exit 3.
  const notRunning = `hipvpn: hipvpn is not running for state dir ${dir}; start it with \`hipvpn serve --state ${dir}\`\n`;
  const [setRun, listRun, removeRun, statusRun] = await each([[...set, '--fid', '5', '--protocol', 'udp'], ['flow', 'list', '--state', dir], ['flow', 'remove', '5', '--state', dir], ['status', '--state', dir]]);
  for (const r of [setRun!, listRun!, removeRun!, statusRun!]) {
    assert.equal(r.stderr, notRunning);
    assert.equal(r.code, 3);
  }
});

test('flow set, list, list --json and remove against a running daemon; its refusals word for word; a removed peer\'s flow flagged', { timeout: 120_000 }, async () => {
  const [aDir, bDir] = await Promise.all([state('flow-alice'), state('flow-bob')]);
  const bobId = JSON.parse(ok(await hipvpn('identity', '--state', bDir), 'identity')) as { hit: string };
  const [alice, bob] = await Promise.all([serve(aDir), serve(bDir)]);
  const aliceId = JSON.parse(ok(await hipvpn('identity', '--state', aDir), 'identity')) as { hit: string };
  await each([
    ['peer', 'add', 'alice', '--hit', aliceId.hit, '--state', bDir],
    ['peer', 'add', 'bob', '--hit', bobId.hit, '--locator', `127.0.0.1:${bob.port()}`, '--state', aDir],
  ]).then((rs) => rs.forEach((r, i) => ok(r, `peer add ${i}`)));
  // After bob: the daemon's messages list the peers in the order they were added.
  ok(await hipvpn('peer', 'add', 'carol', '--hit', '2001:20::c', '--locator', '127.0.0.1:9', '--state', aDir), 'peer add carol');
  ok(await hipvpn('ping', 'bob', '--state', aDir), 'ping bob');
  const pair = `127.0.0.1:${alice.port()} <-> 127.0.0.1:${bob.port()}`;

  // Three bindings: bob's SIP on the primary pair, bob's web on an uplink, carol's DNS.
  const set = (...args: string[]) => ['flow', 'set', ...args, '--state', aDir];
  const added = await each([
    set('bob', '--fid', '7', '--protocol', 'udp', '--remote-ports', '5060-5061', '--local-ports', '5060'),
    set('bob', '--fid', '3', '--protocol', 'tcp', '--remote-ports', '443', '--interface', 'wwan0'),
    set('carol', '--fid', '12', '--protocol', 'any'),
  ]);
  assert.deepEqual(added.map((r, i) => ok(r, `flow set ${i}`)), [
    'added flow 7: udp from port 5060 to ports 5060-5061 towards bob on the primary pair\n',
    'added flow 3: tcp to port 443 towards bob on wwan0\n',
    'added flow 12: any towards carol on the primary pair\n',
  ]);

  const [table, json] = await each([['flow', 'list', '--state', aDir], ['flow', 'list', '--state', aDir, '--json']]);
  const lines = ok(table!, 'flow list').trimEnd().split('\n');
  assert.match(lines[0]!, /^FID +PEER +TRAFFIC +INTERFACE +STATE +PAIR$/);
  assert.match(lines[1]!, /^3 +bob +tcp to port 443 +wwan0 +pending +127\.0\.0\.1:\d+ <-> 127\.0\.0\.1:\d+$/, 'no pair proven on wwan0: it rides the primary');
  assert.equal(lines[2]!.replace(/ +/g, ' '), `7 bob udp from port 5060 to ports 5060-5061 primary pair bound ${pair}`);
  assert.match(lines[3]!, /^12 +carol +any +primary pair +pending +(-|127\.0\.0\.1:\d+ <-> 127\.0\.0\.1:9)$/, 'carol never answers: at most the pair her I1s try');
  assert.equal(lines.length, 4);
  // --json is the status's flows, exactly as the control API reports them to the UI.
  const status = JSON.parse(ok(await hipvpn('status', '--state', aDir, '--json'), 'status')) as { flows: unknown[] };
  const listed = JSON.parse(ok(json!, 'flow list --json')) as { flows: Array<Record<string, unknown>> };
  assert.deepEqual(listed, { flows: status.flows });
  assert.deepEqual(listed.flows[1], {
    binding: { fid: 7, peer: 'bob', selector: { protocol: 'udp', localPorts: { from: 5060, to: 5060 }, remotePorts: { from: 5060, to: 5061 } }, interface: null },
    state: 'bound', local: { address: '127.0.0.1', port: alice.port() }, remote: { address: '127.0.0.1', port: bob.port() },
    enforced: false, packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0,
  });

  // The daemon's refusals, as any client of the control API gets them.
  const icmpPorts: FlowBinding = { fid: 20, peer: 'bob', selector: { protocol: 'icmp', remotePorts: { from: 1, to: 1 } }, interface: null };
  const nobody: FlowBinding = { fid: 21, peer: 'zed', selector: { protocol: 'tcp' }, interface: null };
  const twin: FlowBinding = { fid: 22, peer: 'bob', selector: { protocol: 'tcp', remotePorts: { from: 443, to: 443 } }, interface: 'wlan0' };
  const refusals = await Promise.all([
    apiRefusal(aDir, 'flow.set', icmpPorts), apiRefusal(aDir, 'flow.set', nobody), apiRefusal(aDir, 'flow.set', twin), apiRefusal(aDir, 'flow.remove', { fid: 99 }),
  ]);
  assert.deepEqual(refusals.map((r) => r.code), ['invalid-params', 'unknown-peer', 'conflict', 'invalid-params']);
  assert.equal(refusals[1].message, 'flow 21: unknown peer "zed" (known: bob, carol); add the peer first');
  const refusedRuns = await each([
    set('bob', '--fid', '20', '--protocol', 'icmp', '--remote-ports', '1'),
    set('zed', '--fid', '21', '--protocol', 'tcp'),
    set('bob', '--fid', '22', '--protocol', 'tcp', '--remote-ports', '443', '--interface', 'wlan0'),
    ['flow', 'remove', '99', '--state', aDir],
  ]);
  refusedRuns.forEach((r, i) => {
    assert.equal(r.stderr, `hipvpn: ${refusals[i]!.message}\n`, `refusal ${i}`);
    assert.equal(r.code, refusals[i]!.code === 'invalid-params' ? 2 : 1, `refusal ${i}: exit status`);
    assert.equal(r.stdout, '');
  });

  // A FID in use: `set` edits that binding (the API's flow.set replaces by FID) and says so.
  assert.equal(ok(await hipvpn(...set('bob', '--fid', '3', '--protocol', 'tcp', '--remote-ports', '443-444')), 'replace 3'),
    'updated flow 3: tcp to ports 443-444 towards bob on the primary pair\n');

  // "Only on wwan0": the binding keeps its policy; with no pair on wwan0 the flow is held, not on the primary.
  assert.equal(ok(await hipvpn(...set('bob', '--fid', '40', '--protocol', 'udp', '--remote-ports', '9000', '--interface', 'wwan0', '--policy', 'only')), 'flow set only'),
    'added flow 40: udp to port 9000 towards bob only on wwan0\n');
  const only = (JSON.parse(ok(await hipvpn('flow', 'list', '--state', aDir, '--json'), 'flow list only')) as { flows: Array<{ binding: FlowBinding; state: string; reason?: string; local?: unknown }> }).flows.find((f) => f.binding.fid === 40);
  assert.deepEqual([only?.binding.policy, only?.state, only?.local], ['only', 'pending', undefined], JSON.stringify(only));
  assert.match(only?.reason ?? '', /^held for wwan0 \(only on wwan0\)/);
  ok(await hipvpn('flow', 'remove', '40', '--state', aDir), 'flow remove 40');

  // PEER as a HIT: the peer list names it; a HIT nobody on the list has is refused with what to do.
  assert.equal(ok(await hipvpn(...set(bobId.hit, '--fid', '30', '--protocol', 'icmp')), 'flow set by HIT'), 'added flow 30: icmp towards bob on the primary pair\n');
  const strangerHit = await hipvpn(...set('2001:20::5', '--fid', '31', '--protocol', 'icmp'));
  assert.equal(strangerHit.stderr, 'hipvpn: no peer on the peer list has HIT 2001:20::5; add it with `hipvpn peer add NAME --hit 2001:20::5` first\n');
  assert.equal(strangerHit.code, 1);

  // Carol leaves the peer list; her binding stays, flagged, and carries nothing.
  ok(await hipvpn('peer', 'remove', 'carol', '--state', aDir), 'peer remove carol');
  const [afterTable, afterJson] = await each([['flow', 'list', '--state', aDir], ['flow', 'list', '--state', aDir, '--json']]);
  const carolLine = ok(afterTable!, 'flow list').split('\n').find((l) => l.startsWith('12 '));
  assert.match(carolLine ?? '', /^12 +carol +any +primary pair +peer removed +-$/);
  const flows = (JSON.parse(ok(afterJson!, 'flow list --json')) as { flows: Array<{ binding: { fid: number }; peerRemoved?: boolean }> }).flows;
  assert.deepEqual(flows.map((f) => [f.binding.fid, f.peerRemoved ?? false]), [[3, false], [7, false], [12, true], [30, false]]);

  // Remove: gone from the list and from flows.json's next reading (the daemon's restart).
  assert.equal(ok(await hipvpn('flow', 'remove', '7', '--state', aDir), 'remove 7'),
    'removed flow 7: udp from port 5060 to ports 5060-5061 towards bob on the primary pair; its traffic follows the peer\'s primary pair\n');
  await alice.stop();
  await serve(aDir);
  const restarted = ok(await hipvpn('flow', 'list', '--state', aDir), 'flow list after restart').trimEnd().split('\n');
  assert.deepEqual(restarted.slice(1).map((l) => l.split(/ +/).slice(0, 2).join(' ')), ['3 bob', '12 carol', '30 bob']);
});

test('peers added at the same time by several clients are all kept, in the daemon and in peers.json', async () => {
  const dir = await state('peer-burst');
  await serve(dir);
  const clients = await Promise.all([0, 1, 2, 3, 4, 5].map(() => connectControl(join(dir, 'hipvpn.sock'), dir)));
  const names = clients.map((_, i) => `p${i}`);
  await Promise.all(clients.map((c, i) => c.call('peer.add', { name: names[i]!, hit: `2001:20::${i + 1}`, locators: [] })));
  const listed = (await clients[0]!.call('peer.list', {})).peers.map((p) => p.name).sort();
  for (const c of clients) c.close();
  assert.deepEqual(listed, names);
  const saved = (JSON.parse(await readFile(join(dir, 'peers.json'), 'utf8')) as { peers: Array<{ name: string }> }).peers.map((p) => p.name).sort();
  assert.deepEqual(saved, names);
});
