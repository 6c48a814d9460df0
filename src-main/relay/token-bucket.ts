// Token buckets for the relay's per-client and per-source limits, on a clock the caller passes
// in: `capacity` tokens at most (the burst), refilled at `perSecond`.

export interface BucketSpec { capacity: number; perSecond: number }
export interface Bucket { tokens: number; at: number }

export const fullBucket = (spec: BucketSpec, now: number): Bucket => ({ tokens: spec.capacity, at: now });

export function refilled(b: Bucket, spec: BucketSpec, now: number): number {
  return Math.min(spec.capacity, b.tokens + (Math.max(0, now - b.at) / 1000) * spec.perSecond);
}

/** Takes `cost` tokens if the bucket holds them; otherwise takes nothing and says no. */
export function spend(b: Bucket, spec: BucketSpec, now: number, cost = 1): boolean {
  b.tokens = refilled(b, spec, now);
  b.at = now;
  if (b.tokens < cost) return false;
  b.tokens -= cost;
  return true;
}
