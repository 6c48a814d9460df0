// Where a packet comes from or goes to: an address and a UDP port, and their comparison.

export interface Endpoint { address: string /* IP text, v4 or v6 */; port: number }

export function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a !== undefined && b !== undefined && a.address === b.address && a.port === b.port;
}
