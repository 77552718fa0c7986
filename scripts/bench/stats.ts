/** Percentiles within a run, and median (min-max) across runs. */

/** Nearest-rank percentile of `values` (sorted in place); NaN when empty. */
export function percentile(values: Float64Array | number[], p: number): number {
  if (values.length === 0) return NaN;
  const rank = Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1));
  return values[rank]!;
}

export function sorted(values: number[]): Float64Array {
  const array = Float64Array.from(values);
  array.sort();
  return array;
}

/** A growable Float64 sample buffer (hundreds of thousands of samples without boxed numbers). */
export class Samples {
  private data = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  /** Sorted copy. */
  sorted(): Float64Array {
    const copy = this.data.slice(0, this.length);
    copy.sort();
    return copy;
  }

  summary(): { p50: number; p99: number; max: number; count: number } {
    const s = this.sorted();
    return { p50: percentile(s, 50), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : NaN, count: s.length };
  }
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median and range of one figure over the runs (NaN values are ignored). */
export function spread(values: number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = finite.length / 2;
  const median = finite.length % 2 ? finite[Math.floor(mid)]! : (finite[mid - 1]! + finite[mid]!) / 2;
  return { median, min: finite[0]!, max: finite[finite.length - 1]!, n: finite.length };
}

/** A number with sensible precision. */
export function fmt(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  const d = digits ?? (abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** "median (min–max)" or just the value when there was one run. */
export function fmtSpread(s: Spread, unit = '', digits?: number): string {
  if (s.n === 0) return 'n/a';
  const u = unit ? (/^[×/%]/.test(unit) ? unit : ` ${unit}`) : '';
  if (s.n === 1 || s.min === s.max) return `${fmt(s.median, digits)}${u}`;
  return `${fmt(s.median, digits)}${u} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}
