// A replayer, run inside a lab host: one UDP socket bound to --port, which sends recorded
// datagrams where it is told and reports everything that comes back to it (a peer that answers
// a replay, or sends it traffic, shows up here). Driven by commands on stdin, one per line:
//
//   send HOST PORT HEX   send the datagram HEX (the UDP payload as recorded) to HOST:PORT;
//                        prints `sent N` with the running count
//
//   node --import tsx lab/tools/udp-replay.ts --port 40404
//
// It prints `listening PORT` once bound and `received {"from":…,"port":…,"bytes":…}` for every
// datagram that arrives. SIGTERM ends it.

import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('--port must be a UDP port');

const socket = createSocket('udp4');
let sent = 0;
socket.on('message', (data, from) => {
  console.log(`received ${JSON.stringify({ from: from.address, port: from.port, bytes: data.length })}`);
});
// A send that fails (no route) is reported rather than ending the replayer.
socket.on('error', (error) => console.log(`error ${error.message}`));
socket.bind(port, () => console.log(`listening ${port}`));

createInterface({ input: process.stdin }).on('line', (line) => {
  const [verb, host, to, hex] = line.trim().split(/\s+/);
  if (verb !== 'send' || host === undefined || to === undefined || hex === undefined) {
    console.log(`error bad command: ${line}`);
    return;
  }
  socket.send(Buffer.from(hex, 'hex'), Number(to), host, (error) => {
    if (error) console.log(`error ${error.message}`);
    else console.log(`sent ${++sent}`);
  });
});
process.on('SIGTERM', () => {
  socket.close();
  process.exit(0);
});
