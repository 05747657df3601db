import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { executable, findOnPath } from './executables.js';
import { CACHE_DIR } from './paths.js';

/** Where Debian's `prometheus` package is unpacked (its promtool is `usr/bin/promtool` in there). */
export const PROMETHEUS_DIR = join(CACHE_DIR, 'prometheus');
const CACHED = join(PROMETHEUS_DIR, 'usr', 'bin', 'promtool');
const LOCK = join(CACHE_DIR, 'prometheus.lock');

/**
 * Path of a `promtool` (Prometheus' rule and config checker): `PROMTOOL` if set, else one on
 * PATH, else the cached copy, else Debian's `prometheus` package unpacked once into
 * `~/.cache/tollgate/prometheus`. Only unpacked (`apt-get download` + `dpkg-deb -x`), never
 * installed: nothing lands in /usr and no Prometheus service is started. Safe to call from
 * several processes at once (a lock file, and the directory appears by an atomic rename).
 */
export async function ensurePromtool(say: (line: string) => void = console.log): Promise<string> {
  const override = process.env.PROMTOOL;
  if (override) return override;
  const onPath = await findOnPath('promtool');
  if (onPath) return onPath;
  if (await executable(CACHED)) return CACHED;
  await mkdir(CACHE_DIR, { recursive: true });
  await withLock(say, async () => {
    if (await executable(CACHED)) return; // another process unpacked it while we waited
    await unpackPrometheusPackage(say);
  });
  if (!(await executable(CACHED))) throw new Error(`promtool is still missing at ${CACHED} after unpacking the prometheus package`);
  return CACHED;
}

async function unpackPrometheusPackage(say: (line: string) => void): Promise<void> {
  if (!(await findOnPath('apt-get')) || !(await findOnPath('dpkg-deb'))) {
    throw new Error('promtool is missing and this is not a Debian-like system: install Prometheus (its promtool) or set PROMTOOL to a promtool binary.');
  }
  say(`promtool not found: unpacking Debian's prometheus package into ${PROMETHEUS_DIR} (once)`);
  const started = Date.now();
  const staging = await mkdtemp(join(CACHE_DIR, 'prometheus-'));
  try {
    try {
      await run('apt-get', ['download', 'prometheus'], staging);
    } catch {
      say('apt-get download failed; refreshing the package lists with apt-get update and trying again');
      await run('apt-get', ['update'], staging).catch((e: Error) => {
        throw new Error(`apt-get update failed (${e.message}); run it as root, or install promtool / set PROMTOOL.`);
      });
      await run('apt-get', ['download', 'prometheus'], staging);
    }
    const deb = (await readdir(staging)).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download prometheus produced no .deb file');
    const root = join(staging, 'root');
    await run('dpkg-deb', ['-x', join(staging, deb), root], staging);
    // A leftover directory without a working promtool (interrupted by hand?) is replaced.
    await rm(PROMETHEUS_DIR, { recursive: true, force: true });
    await rename(root, PROMETHEUS_DIR);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  const version = (await run(CACHED, ['--version'], CACHE_DIR)).split('\n')[0] ?? '';
  say(`${version.trim()} ready (${Math.round((Date.now() - started) / 1000)} s)`);
}

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL, holding our pid). A lock
 * whose process is gone is taken over; a live one is waited for, up to 5 minutes.
 */
async function withLock(say: (line: string) => void, fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 300_000;
  let told = false;
  for (;;) {
    try {
      const handle = await open(LOCK, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(await readFile(LOCK, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder > 0 && !alive(holder)) {
        await rm(LOCK, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK} (held by pid ${holder})`);
      if (!told) say('another process is unpacking promtool; waiting for it');
      told = true;
      await sleep(250);
    }
  }
  try {
    await fn();
  } finally {
    await rm(LOCK, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}



/** Runs a command, resolving with its stdout; a failure carries the command's output. */
function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`.trim()));
      else resolve(stdout);
    });
  });
}
