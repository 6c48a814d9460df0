// The NAT lab behaves like the NATs it stands for, seen with plain UDP from both sides: what a
// host is mapped to, what gets back in, and how long a mapping lives. NAT traversal is tested
// against this lab, so it must be right on its own first. Needs root.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildNatLab, forgetMappings, HOME_SUBNET, unsolicitedDrops, type NatLab } from '../../lab/nat.js';
import { listen, probe, startReflector } from '../../lab/udp-probe.js';
import { sleep } from '../support/wait.js';

const REFLECT_A = 3478;
const REFLECT_B = 3479;
const UDP_TIMEOUT_S = 3;

function port(endpoint: string): number {
  return Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
}

function address(endpoint: string): string {
  return endpoint.slice(0, endpoint.lastIndexOf(':'));
}

describe('NAT lab: home routers, a carrier NAT, a relay and a server on a public internet', () => {
  let net: NatLab;
  let relayAddress: string;

  before(async () => {
    net = await buildNatLab({ aliceHome: 'port-preserving', bobHome: 'symmetric', carrier: 'symmetric', udpTimeoutS: UDP_TIMEOUT_S });
    relayAddress = net.relay.address('eth0');
    await startReflector(net.relay, relayAddress, REFLECT_A);
    await startReflector(net.relay, relayAddress, REFLECT_B);
  });
  after(async () => {
    await net.lab.teardown();
  });

  test('both homes use the same private subnet, and neither private address is reachable from outside', async () => {
    assert.equal(net.alice.address('wifi0').startsWith(HOME_SUBNET.split('.0/')[0]!), true);
    assert.equal(net.alice.address('wifi0'), net.bob.address('eth0'), 'both hosts have the same private address, as in two real homes');
    const ping = await net.server.exec('ping', ['-n', '-c', '1', '-W', '1', net.alice.address('wifi0')], { allowFailure: true });
    assert.notEqual(ping.code, 0, 'a private home address must not be routable on the internet');
  });

  test('a port-preserving home NAT maps one socket to its own port, the same for every destination', async () => {
    const bind = `${net.alice.address('wifi0')}:40001`;
    const result = await probe(net.alice, bind, [`${relayAddress}:${REFLECT_A}`, `${relayAddress}:${REFLECT_B}`]);
    assert.equal(result.seenAs.length, 2, `both reflectors answer: ${JSON.stringify(result.received)}`);
    for (const seen of result.seenAs) assert.equal(seen, `${net.aliceHome.publicAddress}:40001`);
  });

  test('a symmetric home NAT maps one socket to a different port for each destination', async () => {
    const bind = `${net.bob.address('eth0')}:40002`;
    const result = await probe(net.bob, bind, [`${relayAddress}:${REFLECT_A}`, `${relayAddress}:${REFLECT_B}`]);
    assert.equal(result.seenAs.length, 2, `both reflectors answer: ${JSON.stringify(result.received)}`);
    for (const seen of result.seenAs) assert.equal(address(seen), net.bobHome.publicAddress);
    assert.notEqual(port(result.seenAs[0]!), port(result.seenAs[1]!), `one mapping per destination: ${result.seenAs.join(', ')}`);
  });

  test("the cellular uplink appears from the carrier's public address, not the home's", async () => {
    const result = await probe(net.alice, `${net.alice.address('cell0')}:40003`, [`${relayAddress}:${REFLECT_A}`]);
    assert.equal(result.seenAs.length, 1, `the reflector answers over cell0: ${JSON.stringify(result.received)}`);
    assert.equal(address(result.seenAs[0]!), net.carrier.publicAddress);
  });

  test('unsolicited traffic is dropped; an answer gets in only from where the host sent to', async () => {
    const mapped = `${net.aliceHome.publicAddress}:40004`;
    const droppedBefore = await unsolicitedDrops(net.aliceHome.router);
    // alice's socket writes to the relay's reflector 1 s after it is bound, opening a mapping.
    const listener = await listen(net.alice, `${net.alice.address('wifi0')}:40004`, 1_500, { sendTo: `${relayAddress}:${REFLECT_A}`, sendAfterMs: 1_000 });
    // Before that: nothing gets in.
    await probe(net.server, `${net.server.address('eth0')}:5000`, [mapped], 100);
    await sleep(1_300);
    // After it, from the relay's other port and from another host, to the very same mapping: dropped.
    await probe(net.relay, `${relayAddress}:${REFLECT_B + 10}`, [mapped], 100);
    await probe(net.server, `${net.server.address('eth0')}:5001`, [mapped], 100);
    await listener.process.exited;
    const from = listener.received().map((r) => r.from);
    assert.deepEqual(from, [`${relayAddress}:${REFLECT_A}`], `only the reflector alice wrote to got in: ${JSON.stringify(listener.received())}`);
    assert.equal((await unsolicitedDrops(net.aliceHome.router)) - droppedBefore, 3, 'the NAT dropped the three unsolicited datagrams silently, by its own count');
  });

  test(`an idle mapping is forgotten after ${UDP_TIMEOUT_S} s, and a flushed NAT forgets at once`, async () => {
    const reflector = await startReflector(net.relay, relayAddress, 3480, { againMs: (UDP_TIMEOUT_S + 2) * 1000 });
    const quick = await startReflector(net.relay, relayAddress, 3481, { againMs: 1000 });
    const late = await probe(net.alice, `${net.alice.address('wifi0')}:40005`, [`${relayAddress}:3480`], (UDP_TIMEOUT_S + 3) * 1000);
    assert.deepEqual(late.received.map((r) => r.text.endsWith('again')), [false], `the answer after ${UDP_TIMEOUT_S + 2} s of silence must not get in`);
    const soon = await probe(net.alice, `${net.alice.address('wifi0')}:40006`, [`${relayAddress}:3481`], 2_000);
    assert.deepEqual(soon.received.map((r) => r.text.endsWith('again')), [false, true], 'the answer after 1 s gets in');
    await reflector.stop();
    await quick.stop();

    const flushed = await startReflector(net.relay, relayAddress, 3482, { againMs: 1000 });
    const asking = await listen(net.alice, `${net.alice.address('wifi0')}:40007`, 2_000, { sendTo: `${relayAddress}:3482` });
    await asking.process.waitForLine(/^received /, 5_000);
    await forgetMappings(net.aliceHome.router);
    await asking.process.exited;
    assert.deepEqual(asking.received().map((r) => r.text.endsWith('again')), [false], 'after the flush the NAT no longer knows the mapping');
    await flushed.stop();
  });
});
