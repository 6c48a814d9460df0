// Which SA pair each locator pair uses in simultaneous multihoming: the peer's locator SPI when
// the peer keyed a pair for that address, else the pair we keyed for our interface, else the base.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairSpis } from '../../src-main/core/sa-choice.js';
import type { PeerLocator } from '../../src-main/hip/peer-locators.js';

const BASE = { inboundSpi: 0x100, outboundSpi: 0x200 };
const locator = (address: string, spi: number): PeerLocator => ({
  address, port: 10500, spi, state: 'ACTIVE', preferred: false, source: 'locator-set', candidate: 'host', lifetimeS: 600, verifiedAt: 0,
});
const peer = { address: '192.0.2.1', port: 10500 };
const peerCell = { address: '198.51.100.1', port: 10500 };

test('our cell0 pair carries traffic from cell0 to a peer address listed with the base SPI; wifi0 keeps the base pair', () => {
  const a = {
    ...BASE,
    saPairs: [{ ...BASE, ifname: undefined, createdBy: 'base' as const }, { inboundSpi: 0x101, outboundSpi: 0x201, ifname: 'cell0', createdBy: 'us' as const }],
    peerLocators: [locator(peer.address, BASE.outboundSpi)],
  };
  assert.deepEqual(pairSpis(a, 'cell0', peer), { spiIn: 0x101, spiOut: 0x201 });
  assert.deepEqual(pairSpis(a, 'wifi0', peer), { spiIn: 0x100, spiOut: 0x200 });
});

test('a peer address listed with the SPI of a pair the peer keyed uses that pair, whatever our interface', () => {
  const a = {
    ...BASE,
    saPairs: [{ ...BASE, ifname: undefined, createdBy: 'base' as const }, { inboundSpi: 0x102, outboundSpi: 0x202, ifname: 'eth0', createdBy: 'peer' as const }],
    peerLocators: [locator(peer.address, BASE.outboundSpi), locator(peerCell.address, 0x202)],
  };
  assert.deepEqual(pairSpis(a, 'eth0', peerCell), { spiIn: 0x102, spiOut: 0x202 });
  assert.deepEqual(pairSpis(a, 'eth0', peer), { spiIn: 0x100, spiOut: 0x200 }, 'the pair the peer keyed for its other address is not ours to use here');
});
