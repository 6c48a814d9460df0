// iperf3 TCP through the hipvpn tunnel between two namespaces, with the raw veth as anchor:
//   node --import tsx bench/dataplane-throughput.ts [seconds]      (root)
// Set HIPVPN_DATAPLANE_IO=node to measure the pure-node fallback instead of the addon, or
// HIPVPN_LIBCRYPTO=none to keep the addon's I/O but seal and open ESP in JS.

import { spawn } from 'node:child_process';
import { DataplaneLab, inNs } from '../lab/dataplane-lab.js';

const seconds = Number(process.argv[2] ?? 5);

async function iperf(lab: DataplaneLab, target: string): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', lab.nsB, 'iperf3', '-s', '-1'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  try {
    const out = inNs(lab.nsA, 'iperf3', ['-c', target, '-t', String(seconds), '-J'], { timeoutMs: (seconds + 20) * 1000 });
    const r = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
    return r.end.sum_received.bits_per_second / 1e6;
  } finally {
    server.kill();
  }
}

const lab = new DataplaneLab();
try {
  lab.setupNetwork();
  const [a] = await lab.startHosts();
  const veth = await iperf(lab, lab.addrB);
  const tunnel = await iperf(lab, a.peerLsi);
  const mode = process.env['HIPVPN_DATAPLANE_IO'] === 'node'
    ? 'pure-node'
    : process.env['HIPVPN_LIBCRYPTO'] === 'none' ? 'native I/O, ESP in JS' : 'native fast path';
  console.log(`raw veth:            ${veth.toFixed(0)} Mbit/s`);
  console.log(`hipvpn (${mode}): ${tunnel.toFixed(0)} Mbit/s`);
} finally {
  await lab.teardown();
}
