import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Local state of `npm start` (git-ignored): Temporal's SQLite file, demo keys, logs. */
export const STATE_DIR = process.env.TOLLGATE_STATE_DIR ?? join(ROOT, '.tollgate');
/** Binaries built once per machine, outside the repository (shared by clones and CI runs). */
export const CACHE_DIR = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tollgate');
