// `npm run demo`: two HIP hosts on loopback (127.0.0.1 and 127.0.0.2, UDP port 10500 as
// RFC 9028 says), a base exchange, ESP-protected messages both ways, and CLOSE — printed as it
// happens. The quickest way to see the protocol core work.

import { HipEngine, type EngineEvent } from '../engine/engine.js';
import { nodeCrypto } from '../hip/crypto/index.js';
import { generateIdentity } from '../hip/identity/host-identity.js';

const PORT = Number(process.env.HIPVPN_DEMO_PORT ?? 10500);
const t0 = performance.now();
const stamp = (): string => `${(performance.now() - t0).toFixed(1).padStart(7)} ms`;

function narrate(name: string, engine: HipEngine): void {
  engine.on('event', (e: EngineEvent) => {
    switch (e.type) {
      case 'association':
        console.log(`${stamp()}  ${name}: association with ${e.peer} ${e.from} → ${e.to}`);
        break;
      case 'established':
        console.log(`${stamp()}  ${name}: ESTABLISHED with ${e.peer} via ${e.local.address} ↔ ${e.remote.address}:${e.remote.port}, ESP suite ${e.suite}`);
        break;
      case 'payload':
        console.log(`${stamp()}  ${name}: ESP from ${e.peer}: "${new TextDecoder().decode(e.payload)}"`);
        break;
      case 'closed':
        console.log(`${stamp()}  ${name}: association with ${e.peer} closed${e.byPeer ? ' by the peer' : ''}`);
        break;
      case 'failed':
        console.log(`${stamp()}  ${name}: association with ${e.peer} FAILED: ${e.reason}`);
        break;
      default:
        break;
    }
  });
}

async function main(): Promise<void> {
  const alice = await HipEngine.start({ identity: generateIdentity(nodeCrypto), crypto: nodeCrypto, addresses: ['127.0.0.1'], port: PORT });
  const bob = await HipEngine.start({ identity: generateIdentity(nodeCrypto), crypto: nodeCrypto, addresses: ['127.0.0.2'], port: PORT });
  console.log(`alice HIT ${alice.hitText} at 127.0.0.1:${PORT}`);
  console.log(`bob   HIT ${bob.hitText} at 127.0.0.2:${PORT}`);
  narrate('alice', alice);
  narrate('bob  ', bob);

  const up = new Promise<void>((resolve) => bob.on('event', (e: EngineEvent) => e.type === 'established' && resolve()));
  alice.connect(bob.hit, { address: '127.0.0.2', port: PORT });
  await up;
  await new Promise((r) => setTimeout(r, 20));

  alice.send(bob.hit, new TextEncoder().encode('hello bob, this is alice'), 17);
  bob.send(alice.hit, new TextEncoder().encode('hello alice, bob here'), 17);
  await new Promise((r) => setTimeout(r, 100));

  alice.close(bob.hit);
  await new Promise((r) => setTimeout(r, 200));
  const s = alice.snapshot().counters;
  console.log(`${stamp()}  alice counters: HIP in ${s.hipIn} out ${s.hipOut}, ESP in ${s.espIn} out ${s.espOut}, dropped ${s.droppedTotal}`);
  await alice.stop();
  await bob.stop();
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
