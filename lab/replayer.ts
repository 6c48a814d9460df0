// An attacker's replayer in a lab host (lab/tools/udp-replay.ts): sends recorded datagrams
// from its own address and port, and keeps whatever comes back to it.
//
//   const replayer = await Replayer.start(attacker, 40404);
//   await replayer.send(serverAddress, 10500, recorded.payload);
//   replayer.received;   // datagrams the victim (or anyone) sent back to the replayer

import { REPO_ROOT } from './hipvpn.js';
import type { Host } from './host.js';
import type { LabProcess } from './process.js';
import { toolArgs } from './tool-command.js';


export interface ReplayerArrival {
  readonly from: string;
  readonly port: number;
  readonly bytes: number;
}

export class Replayer {
  private sent = 0;

  private constructor(
    private readonly child: LabProcess,
    readonly address: string,
    readonly port: number,
  ) {}

  /** The replayer on `host`'s first interface address, bound to `port`. */
  static async start(host: Host, port: number): Promise<Replayer> {
    const child = host.spawn(process.execPath, toolArgs('udp-replay', ['--port', String(port)]), {
      cwd: REPO_ROOT, label: `${host.name}:replay`, stdin: true,
    });
    await child.waitForLine(/^listening /, 20_000);
    return new Replayer(child, host.address(), port);
  }

  /** Sends one datagram (a recorded UDP payload) and resolves once the socket sent it. */
  async send(host: string, port: number, payload: Uint8Array): Promise<void> {
    this.child.send(`send ${host} ${port} ${Buffer.from(payload).toString('hex')}`);
    const n = ++this.sent;
    await this.child.waitForLine(new RegExp(`^sent ${n}$`), 5_000);
  }

  /** Every datagram that reached the replayer's socket so far. */
  get received(): ReplayerArrival[] {
    return this.child.lines.filter((l) => l.startsWith('received ')).map((l) => JSON.parse(l.slice('received '.length)) as ReplayerArrival);
  }

  /** Errors the replayer's socket reported (none expected). */
  get errors(): string[] {
    return this.child.lines.filter((l) => l.startsWith('error '));
  }
}
