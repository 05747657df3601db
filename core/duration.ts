/**
 * Durations are human strings at the edges ('30 s', '5 min', '250 ms') and millisecond
 * numbers inside. `parseDuration` accepts both so configuration can say either.
 */
const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i.exec(value);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(value)}`);
  const unit = (m[2] ?? 'ms').toLowerCase();
  const factor = UNITS[unit];
  if (factor === undefined) throw new Error(`unknown duration unit in ${JSON.stringify(value)}`);
  return Math.round(Number(m[1]) * factor);
}

/** "12 s", "3 min", "2 h": the largest unit that keeps the figure readable. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 120_000) return `${Math.ceil(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.ceil(ms / 60_000)} min`;
  return `${Math.ceil(ms / 3_600_000)} h`;
}
