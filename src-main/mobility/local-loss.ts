// Why one of our addresses stopped carrying traffic, in the interface monitor's words: its
// uplink went down (the address may come back with it), or the address itself went away. Read
// from one change's causes, so a handover that change sets off carries the reason with it.

import type { LocatorCause } from './local-addresses.js';

export type LocalLossCause = 'interface-down' | 'address-lost';

/** The addresses this change took away, each with why. */
export function localLosses(causes: readonly LocatorCause[]): Map<string, LocalLossCause> {
  const losses = new Map<string, LocalLossCause>();
  for (const c of causes) {
    if (c.type === 'not-operational') losses.set(c.address, 'interface-down');
    // Withdrawn after being down for the hold: the uplink going down is still the reason.
    else if ((c.type === 'lost' || c.type === 'withdrawn') && losses.get(c.address) !== 'interface-down') losses.set(c.address, 'address-lost');
  }
  return losses;
}
