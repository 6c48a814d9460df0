// The JS data plane asks for a rekey per outbound SA (as the native fast path does): each of a
// peer's SAs, the base one and further ones of simultaneous multihoming (RFC 8047), says once
// that it is worn out and names its SPI, so the control plane replaces that pair alone; its
// successor asks afresh. Sequence numbers near 2^32 come from SAs built to start there.
//
//   node --import tsx --test test/unit/dataplane-core-rekey.test.ts

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataplaneCore } from '../../src-main/dataplane/core.js';
import { EspOutboundSa, ESP_SEQ_MAX, ESP_SEQ_REKEY_THRESHOLD } from '../../src-main/esp/index.js';
import { EspSuite } from '../../src-main/esp/suites.js';
import { toAddr16 } from '../../src-main/base/addr16.js';
import { IPPROTO_UDP } from '../../src-main/dataplane/packet.js';
import { OUT_SPI, OWN_HIT, OWN_LSI, PEER_HIT, RecordingSink, gcmKeys, saInstall } from '../../lab/dataplane-fastpath.js';

const SUITE = EspSuite.AES_GCM_16;
const CELL_OUT = 0x5005;
const CELL_OUT_NEXT = 0x7007;
const CELL = { address: '198.51.100.7', port: 10500 };

/** An outbound SA whose next packet takes sequence number `nextSeq`. */
function sealerAt(spi: number, nextSeq: number): EspOutboundSa {
  return new EspOutboundSa({ spi, suite: SUITE, keys: gcmKeys(spi & 0xff), createdAt: 0, nextSeq });
}

function send(core: DataplaneCore, n: number): void {
  for (let i = 0; i < n; i++) assert.ok(core.sendPayload(PEER_HIT, Uint8Array.of(i), IPPROTO_UDP, 0), 'sealed and sent');
}

function rekeysAsked(sink: RecordingSink): number[] {
  return sink.events.flatMap((e) => (e.type === 'rekey-needed' ? [e.spi] : []));
}

test('a further SA near 2^32 asks once for its own rekey, by SPI; the base SA and the successor ask only when they wear out', () => {
  const sink = new RecordingSink();
  const core = new DataplaneCore(OWN_HIT, OWN_LSI, sink);
  core.installSa(saInstall(SUITE), 0);
  core.addSas(PEER_HIT, { spi: CELL_OUT, suite: SUITE, keys: gcmKeys(5) }, undefined, 0, sealerAt(CELL_OUT, ESP_SEQ_MAX - 2));
  send(core, 3);
  assert.deepEqual(rekeysAsked(sink), [], 'the base SA carries the traffic and is far from its limit');

  core.setPath(PEER_HIT, CELL, toAddr16(CELL.address)!, '203.0.113.7', true, CELL_OUT);
  send(core, 3);
  assert.deepEqual(rekeysAsked(sink), [CELL_OUT], 'the further SA asks once, naming itself');
  assert.equal(core.sendPayload(PEER_HIT, Uint8Array.of(9), IPPROTO_UDP, 0), false, 'past 2^32 - 1 nothing is sealed');
  assert.equal(core.drops['esp-seq-exhausted'], 1);

  // The pair's rekey: its successor is added and takes the traffic before the old SA goes.
  core.addSas(PEER_HIT, { spi: CELL_OUT_NEXT, suite: SUITE, keys: gcmKeys(6) }, undefined, 0);
  core.setPath(PEER_HIT, CELL, toAddr16(CELL.address)!, '203.0.113.7', true, CELL_OUT_NEXT);
  core.removeOutbound(PEER_HIT, CELL_OUT);
  send(core, 3);
  assert.equal(core.outboundSpiOf(PEER_HIT), CELL_OUT_NEXT);
  assert.deepEqual(rekeysAsked(sink), [CELL_OUT], 'the successor starts afresh');

  // A base SA that wears out too asks for itself, with the further SA's request standing.
  core.installSa({ ...saInstall(SUITE), outbound: { spi: OUT_SPI + 1, suite: SUITE, keys: gcmKeys(8) } }, 0, sealerAt(OUT_SPI + 1, ESP_SEQ_REKEY_THRESHOLD));
  core.setPath(PEER_HIT, CELL, toAddr16(CELL.address)!, '192.0.2.1', true, OUT_SPI + 1);
  send(core, 2);
  assert.deepEqual(rekeysAsked(sink), [CELL_OUT, OUT_SPI + 1], 'the base SA asks once, naming itself');
});
