import { UsageError } from './errors.js';

export type PatchObject = { [key: string]: unknown };

const SEGMENT = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Parses `--set` values: JSON when it parses (`10`, `true`, `null`, `["a"]`, `"123"`),
 * otherwise the raw text, so `--set name=Pro` needs no quoting.
 */
export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Puts `value` at the dotted `path` of `target`, creating the groups on the way. Giving the
 * same field twice, or a field and its group, is refused rather than silently merged: the
 * operator would not know which one won. Segments are plain identifiers, which also keeps
 * `__proto__` and friends out.
 */
export function setPath(target: PatchObject, path: string, value: unknown, usage?: string): void {
  const segments = path.split('.');
  if (!segments.every((s) => SEGMENT.test(s) && s !== 'constructor' && s !== 'prototype')) {
    throw new UsageError(`'${path}' is not a field path like limits.perKey.perMinute`, usage);
  }
  let node = target;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    const existing = Object.hasOwn(node, segment) ? node[segment] : undefined;
    if (last) {
      if (existing !== undefined) throw new UsageError(`${path} is given twice`, usage);
      node[segment] = value;
      return;
    }
    if (existing === undefined) node = node[segment] = {};
    else if (isPlainObject(existing)) node = existing;
    else throw new UsageError(`${segments.slice(0, i + 1).join('.')} is given both as a value and as a group`, usage);
  }
}

/** Builds a nested object from `path=value` assignments (`--set limits.perKey.perMinute=10`). */
export function applyAssignments(target: PatchObject, assignments: readonly string[], usage?: string): PatchObject {
  for (const a of assignments) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set needs path=value, got '${a}'`, usage);
    setPath(target, a.slice(0, eq).trim(), parseValue(a.slice(eq + 1)), usage);
  }
  return target;
}

function isPlainObject(v: unknown): v is PatchObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
