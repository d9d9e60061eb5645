/**
 * Protobuf varints for non-negative integers below 2^53 (sequence numbers,
 * lengths, timestamps). Division instead of bit shifts: shifts would cut
 * numbers to 32 bits.
 */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Write n at pos; returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}
