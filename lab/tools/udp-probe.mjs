// A small UDP tool for looking at NATs from both sides, run inside lab hosts (plain JavaScript:
// it starts in ~50 ms, where a TypeScript tool would take most of a second).
//
//   node lab/tools/udp-probe.mjs --bind ADDR:PORT [--send-to ADDR:PORT ...] [--reflect]
//        [--again-ms MS] [--send-after-ms MS] [--wait-ms MS]
//
// It binds one socket, sends one datagram to each --send-to (all from that one socket, as a
// host behind a NAT would; --send-after-ms later than binding), and prints each datagram it receives as a JSON line:
//   received {"from":"ADDR:PORT","text":"..."}
// --reflect answers every datagram with the source address and port it came from (what a STUN
// server tells a client: its mapped address), and with --again-ms answers once more that much
// later (to see whether the NAT still lets it in). It prints `bound ADDR:PORT` once listening and
// exits after --wait-ms (default 1000) since the last datagram it sent or received, or on SIGTERM.

import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    bind: { type: 'string' },
    'send-to': { type: 'string', multiple: true, default: [] },
    reflect: { type: 'boolean', default: false },
    'again-ms': { type: 'string' },
    'wait-ms': { type: 'string', default: '1000' },
    'send-after-ms': { type: 'string', default: '0' },
  },
});

/** ADDR:PORT for IPv4 (the lab's underlay is IPv4). */
function endpoint(text, what) {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text ?? '');
  if (!match || Number(match[2]) > 65535) {
    console.error(`udp-probe: ${what} must be IPv4-ADDRESS:PORT, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return { address: match[1], port: Number(match[2]) };
}

const bind = endpoint(values.bind, '--bind');
const targets = values['send-to'].map((t) => endpoint(t, '--send-to'));
const waitMs = Number(values['wait-ms']);
const againMs = values['again-ms'] === undefined ? undefined : Number(values['again-ms']);
const socket = createSocket('udp4');
const pending = new Set();
let idleTimer;

function later(ms, action) {
  const timer = setTimeout(() => {
    pending.delete(timer);
    action();
  }, ms);
  pending.add(timer);
}

function keepAlive() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(finish, Math.max(waitMs, 0));
}

function finish() {
  if (pending.size > 0) return keepAlive();
  socket.close();
}

function send(text, to) {
  socket.send(text, to.port, to.address);
  keepAlive();
}

socket.on('message', (data, rinfo) => {
  const from = `${rinfo.address}:${rinfo.port}`;
  const text = data.toString('utf8');
  console.log(`received ${JSON.stringify({ from, text })}`);
  keepAlive();
  if (!values.reflect || text.startsWith('seen ')) return;
  const to = { address: rinfo.address, port: rinfo.port };
  send(`seen ${from}`, to);
  if (againMs !== undefined) later(againMs, () => send(`seen ${from} again`, to));
});
socket.on('error', (error) => {
  console.error(`udp-probe: ${error.message}`);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));

socket.bind(bind.port, bind.address, () => {
  const here = socket.address();
  console.log(`bound ${here.address}:${here.port}`);
  later(Number(values['send-after-ms']), () => {
    for (const to of targets) send(`probe from ${here.address}:${here.port}`, to);
  });
  keepAlive();
});
