// Node hands us Buffers, whose slice() is a view rather than a copy. Anything we keep or
// modify goes through copyOf, which always copies and always returns a plain Uint8Array.

export function copyOf(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  return new Uint8Array(b.subarray(start, end));
}
