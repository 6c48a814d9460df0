// flows.json: the flow bindings that survive restarts, beside peers.json in the state dir (0600,
// replaced atomically). Read forgivingly: a binding the daemon cannot use (a typo, a peer that
// is gone) is dropped with a warning naming it, the others are kept; the VPN still starts.

import { join } from 'node:path';
import { FLOW_POLICIES, TRAFFIC_PROTOCOLS, interfaceName, peerName, portRange } from '../../src-shared/control-api.js';
import { array, integer, nullable, object, oneOf, string, type Infer } from '../../src-shared/validate.js';
import { readJsonFile, writeJsonAtomic } from '../platform/state-file.js';
import { FlowTable, type FlowBinding } from './flow-table.js';

const FLOWS_FILE_VERSION = 1;

const prefixText = string({ minLength: 2, maxLength: 49, expected: 'an address or prefix (ADDR or ADDR/LEN)' });

/** A stored binding: the control API's shape plus the model's optional prefixes. */
export const storedFlow = object({
  fid: integer({ min: 1, max: 65535 }),
  peer: peerName,
  selector: object({ protocol: oneOf(TRAFFIC_PROTOCOLS) }, { localPorts: portRange, remotePorts: portRange, localPrefix: prefixText, remotePrefix: prefixText }),
  interface: nullable(interfaceName),
}, {
  /** Absent = "prefer" (files written before a binding had a policy read the same). */
  policy: oneOf(FLOW_POLICIES),
});

const flowsFile = object({ version: integer({ min: 1, max: FLOWS_FILE_VERSION }), flows: array({ expected: 'any', check: (v: unknown) => ({ ok: true as const, value: v }) }) });
type StoredFlow = Infer<typeof storedFlow>;

export function flowsPath(stateDirRoot: string): string {
  return join(stateDirRoot, 'flows.json');
}

/** The stored table; `knownPeers` null keeps flows to any peer (the caller checks later). */
export async function loadFlows(path: string, knownPeers: readonly string[] | null, warn: (message: string) => void): Promise<FlowTable> {
  const read = await readJsonFile(path);
  if (read.kind === 'missing') return FlowTable.empty();
  if (read.kind === 'unreadable') {
    warn(`${path}: ${read.reason}${read.keptAt ? `; kept as ${read.keptAt}` : ''}; starting with no flow bindings`);
    return FlowTable.empty();
  }
  const file = flowsFile.check(read.value);
  if (!file.ok) {
    warn(`${path}: ${file.error}; starting with no flow bindings`);
    return FlowTable.empty();
  }
  const good: FlowBinding[] = [];
  file.value.flows.forEach((raw, i) => {
    const one = storedFlow.check(raw, `flows[${i}]`);
    if (one.ok) good.push(one.value);
    else warn(`${path}: ${one.error}; dropping that binding`);
  });
  const { table, refused } = FlowTable.fromList(good, knownPeers);
  for (const r of refused) warn(`${path}: ${r}; dropping that binding`);
  return table;
}

export async function saveFlows(path: string, table: FlowTable): Promise<void> {
  const flows: StoredFlow[] = table.list();
  await writeJsonAtomic(path, { version: FLOWS_FILE_VERSION, flows });
}
