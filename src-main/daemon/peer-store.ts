// peers.json: the peer list that survives restarts. Written whole to a temporary file and
// renamed over the old one, so a crash leaves either the old list or the new, never half.
// Read strictly: a hand-edited file with a typo is refused with the field it got wrong.

import { readFile } from 'node:fs/promises';
import { array, object, integer, type Infer } from '../../src-shared/validate.js';
import { peerConfig, type PeerConfig } from '../../src-shared/control-api.js';
import { UserError, errorText } from '../base/errors.js';
import { normalizePeer, withPeer } from './peer-input.js';
import { writeJsonAtomic } from '../platform/state-file.js';

const PEERS_FILE_VERSION = 1;
const peersFile = object({ version: integer({ min: 1, max: PEERS_FILE_VERSION }), peers: array(peerConfig) });
type PeersFile = Infer<typeof peersFile>;

export async function loadPeers(path: string): Promise<PeerConfig[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new UserError(`cannot read ${path}: ${errorText(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError(`${path} is not valid JSON; fix it or remove it to start with no peers`);
  }
  const checked = peersFile.check(json);
  if (!checked.ok) throw new UserError(`${path}: ${checked.error}`);
  let peers: PeerConfig[] = [];
  for (const raw of checked.value.peers) {
    const p = normalizePeer(raw);
    if (!p.ok) throw new UserError(`${path}: ${p.error}`);
    if (peers.some((q) => q.name === p.value.name)) throw new UserError(`${path}: peer ${p.value.name} is listed twice`);
    const next = withPeer(peers, p.value);
    if (!next.ok) throw new UserError(`${path}: ${next.error}`);
    peers = next.value.peers;
  }
  return peers;
}

export async function savePeers(path: string, peers: readonly PeerConfig[]): Promise<void> {
  const body: PeersFile = { version: PEERS_FILE_VERSION, peers: peers.map((p) => ({ name: p.name, hit: p.hit, locators: p.locators, ...(p.relay ? { relay: p.relay } : {}) })) };
  await writeJsonAtomic(path, body);
}
