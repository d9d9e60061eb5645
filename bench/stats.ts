/**
 * Latency histogram: log-linear buckets over integer microseconds (64 sub-
 * buckets per power of two, so a reported percentile is within ~1.6% of the
 * true value), fixed size whatever the sample count, mergeable, and cheap
 * enough to record every delivery. The maximum is kept exactly.
 */

const SUB = 64;
const SUB_BITS = 6;
/** Values up to 2^31 µs (35 minutes); larger ones land in the last bucket. */
const BUCKETS = (31 - SUB_BITS) * SUB + 2 * SUB;

export class Histogram {
  readonly counts = new Float64Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  record(us: number): void {
    const v = us < 0 ? 0 : us > 0x7fffffff ? 0x7fffffff : Math.floor(us);
    this.counts[bucketOf(v)]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** The q-quantile (0..1) in µs: the upper edge of the bucket holding it, capped at the exact max. */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(upperEdge(i), this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50Ms: this.percentile(0.5) / 1000,
      p99Ms: this.percentile(0.99) / 1000,
      maxMs: this.max / 1000,
      meanMs: this.count ? this.sum / this.count / 1000 : 0,
    };
  }
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

function bucketOf(v: number): number {
  if (v < 2 * SUB) return v;
  const e = 31 - Math.clz32(v); // >= 7
  return (e - SUB_BITS) * SUB + (v >>> (e - SUB_BITS));
}

function upperEdge(i: number): number {
  if (i < 2 * SUB) return i;
  const e = Math.floor(i / SUB) + SUB_BITS - 1;
  const mantissa = i - (e - SUB_BITS) * SUB;
  return ((mantissa + 1) << (e - SUB_BITS)) - 1;
}

/** Ratio a/b rounded for display, or undefined when it means nothing. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return undefined;
  return a / b;
}
