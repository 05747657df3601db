// Installs npm dependencies when node_modules is missing or older than the lockfile, so
// `npm start` and `npm test` work on a fresh clone. Plain JavaScript: it runs before
// anything else is installed. `npm install` (not `npm ci`): it follows the lockfile, and
// `npm ci` rejects lockfiles written against registries that serve only some platform
// builds of optional packages.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

export function ensureDeps() {
  const marker = `${root}node_modules/.package-lock.json`;
  const lock = `${root}package-lock.json`;
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  if (!stale) return;
  console.log('[tollgate] installing npm dependencies…');
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[tollgate] npm install failed');
    process.exit(result.status ?? 1);
  }
}
