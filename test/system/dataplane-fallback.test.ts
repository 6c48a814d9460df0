// The data plane without its native ESP fast path: when libcrypto cannot be loaded (forced with
// HIPVPN_LIBCRYPTO=none) ESP is sealed in JS over the native I/O, and with
// HIPVPN_DATAPLANE_IO=node everything is pure node. Both say so once, and the tunnel still
// carries pings by LSI and HIT and a TCP transfer. By default the fast path runs silently.
// Needs root (CI runs as root).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DataplaneLab, inNs, type LabHost } from '../../lab/dataplane-lab.js';
import { tcpTransfer } from '../support/dataplane-transfer.js';

function ping(ns: string, target: string, v6 = false): number {
  const out = inNs(ns, 'ping', [...(v6 ? ['-6'] : []), '-c', '3', '-i', '0.2', '-W', '2', target], { timeoutMs: 20_000 });
  const m = /(\d+) received/.exec(out);
  assert.ok(m, `ping output has a summary: ${out}`);
  return Number(m[1]);
}

function warnings(h: LabHost): string[] {
  return h.events.filter((e) => e['event'] === 'warning').map((e) => String(e['message']));
}

const VARIANTS: Array<{ name: string; env: NodeJS.ProcessEnv; warning: RegExp | null }> = [
  { name: 'native fast path (default)', env: {}, warning: null },
  { name: 'libcrypto missing (HIPVPN_LIBCRYPTO=none)', env: { HIPVPN_LIBCRYPTO: 'none' }, warning: /fast path unavailable: disabled by HIPVPN_LIBCRYPTO=none/ },
  { name: 'pure node (HIPVPN_DATAPLANE_IO=node)', env: { HIPVPN_DATAPLANE_IO: 'node' }, warning: /slow pure-node path/ },
];

for (const v of VARIANTS) {
  describe(`data plane: ${v.name}`, () => {
    test('pings by LSI and HIT and 8 MB of TCP get through intact', async () => {
      const lab = new DataplaneLab();
      try {
        lab.setupNetwork();
        const [a, b] = await lab.startHosts(v.env);
        for (const h of [a, b]) {
          const seen = warnings(h);
          if (v.warning) assert.ok(seen.some((w) => v.warning!.test(w)), `${h.ns} says which path it runs: ${JSON.stringify(seen)}`);
          else assert.ok(!seen.some((w) => /fast path unavailable|pure-node/.test(w)), `${h.ns} runs the fast path: ${JSON.stringify(seen)}`);
        }
        assert.equal(ping(lab.nsA, a.peerLsi), 3, 'ping A → B by LSI');
        assert.equal(ping(lab.nsB, b.peerLsi), 3, 'ping B → A by LSI');
        assert.equal(ping(lab.nsA, b.hit, true), 3, 'ping A → B by HIT');
        const { sent, received } = await tcpTransfer(lab.nsB, lab.nsA, a.peerLsi, 8 * 1024 * 1024);
        assert.equal(sent.bytes, 8 * 1024 * 1024);
        assert.deepEqual(received, sent, 'the server received exactly what the client sent');
      } finally {
        await lab.teardown();
      }
    });
  });
}
