/**
 * Human output: aligned tables and "label  value" blocks on stdout. JSON output is one
 * document and nothing else, so `npm run -s admin -- --json … | jq` always parses; that is
 * why human renderers never run in JSON mode (admin.ts picks one or the other).
 */
export type Write = (text: string) => void;

export interface Printer {
  line(text?: string): void;
  /** Columns padded to their widest cell; `(none)` for no rows. */
  table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void;
  /** `label  value` lines with the labels aligned. */
  fields(pairs: ReadonlyArray<readonly [string, string]>, indent?: string): void;
}

export function createPrinter(write: Write): Printer {
  const line = (text = '') => write(`${text}\n`);
  return {
    line,
    table(headers, rows) {
      if (rows.length === 0) return line('(none)');
      const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      const format = (cells: readonly string[]) =>
        cells
          .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
          .join('  ')
          .trimEnd();
      line(format(headers));
      for (const r of rows) line(format(r));
    },
    fields(pairs, indent = '  ') {
      const width = Math.max(0, ...pairs.map(([k]) => k.length));
      for (const [k, v] of pairs) line(`${indent}${k.padEnd(width)}  ${v}`);
    },
  };
}

export function printJson(write: Write, value: unknown): void {
  write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `2026-01-31 14:05 UTC` from an ISO timestamp; `fallback` for null. */
export function when(iso: string | null | undefined, fallback = '-'): string {
  if (!iso) return fallback;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** Flattens nested plain objects into dotted paths: the same spelling `plan update --set` accepts. */
export function dotted(value: unknown, prefix = ''): Array<[string, string]> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix, JSON.stringify(value)]];
  return Object.entries(value).flatMap(([k, v]) => dotted(v, prefix ? `${prefix}.${k}` : k));
}
