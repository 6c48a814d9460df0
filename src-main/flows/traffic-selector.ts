// Which packets a flow is (seed 002 §1: "a set of IP packets matching a traffic selector", after
// RFC 6088/6089): transport protocol, port ranges and address prefixes, always seen from this
// host — "local" is our side of the conversation, "remote" the peer's. Pure.
//
// The control API's selector (src-shared) names protocol and ports; the prefixes are this
// model's addition, optional, in the same JSON shape so the schema can take them over as is.

import { TRAFFIC_PROTOCOLS } from '../../src-shared/control-api.js';
import { parsePrefix, prefixText, type FlowSelector, type PortRange } from '../../src-shared/flow-selector.js';

// The selector model lives in src-shared so HIP, a lower layer, can carry it on the wire.
export { parsePrefix, prefixText, type FlowProtocol, type FlowSelector, type IpPrefix, type Parsed, type PortRange } from '../../src-shared/flow-selector.js';

function portRangeProblem(what: string, r: PortRange): string | null {
  const ok = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!ok(r.from) || !ok(r.to)) return `${what} are 1..65535, got ${r.from}-${r.to}`;
  if (r.from > r.to) return `${what}: the range ends (${r.to}) before it starts (${r.from})`;
  return null;
}

/** What is wrong with a selector, in words a user can act on; null when it is usable. */
export function selectorProblem(s: FlowSelector): string | null {
  if (!(TRAFFIC_PROTOCOLS as readonly string[]).includes(s.protocol)) return `protocol is one of ${TRAFFIC_PROTOCOLS.join(', ')}, not ${JSON.stringify(s.protocol)}`;
  if (s.protocol === 'icmp' && (s.localPorts || s.remotePorts)) return 'ICMP has no ports: remove the port range, or choose tcp or udp';
  for (const [what, r] of [['local ports', s.localPorts], ['peer ports', s.remotePorts]] as const) {
    const problem = r ? portRangeProblem(what, r) : null;
    if (problem) return problem;
  }
  const families = new Set<number>();
  for (const text of [s.localPrefix, s.remotePrefix]) {
    if (text === undefined) continue;
    const p = parsePrefix(text);
    if (!p.ok) return p.error;
    families.add(p.value.family);
  }
  if (families.size > 1) return 'the local and peer prefixes are of different address families (one IPv4, one IPv6), so no packet can match both';
  return null;
}

/** The selector's fields in a fixed order, for comparing two selectors. */
export function selectorKey(s: FlowSelector): string {
  const ports = (r: PortRange | undefined) => (r ? `${r.from}-${r.to}` : '*');
  const prefix = (t: string | undefined) => {
    if (t === undefined) return '*';
    const p = parsePrefix(t);
    return p.ok ? prefixText(p.value) : t;
  };
  return [s.protocol, ports(s.localPorts), ports(s.remotePorts), prefix(s.localPrefix), prefix(s.remotePrefix)].join('|');
}

/** "tcp to port 443", "udp from port 5004 to 1.0.0.2 ports 5004-5010", "any": the words messages use. */
export function selectorText(s: FlowSelector): string {
  const ports = (r: PortRange | undefined) => (r === undefined ? undefined : r.from === r.to ? `port ${r.from}` : `ports ${r.from}-${r.to}`);
  const side = (word: string, prefix: string | undefined, r: PortRange | undefined) => {
    const what = [prefix, ports(r)].filter((x) => x !== undefined);
    return what.length > 0 ? [`${word} ${what.join(' ')}`] : [];
  };
  return [s.protocol, ...side('from', s.localPrefix, s.localPorts), ...side('to', s.remotePrefix, s.remotePorts)].join(' ');
}
