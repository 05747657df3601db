import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { executable } from './executables.js';
import { CACHE_DIR } from './paths.js';

/** The Temporal CLI release `go install` accepts (later ones carry a `replace` directive). */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

/**
 * Path of the Temporal CLI, building it once with `go install` into the cache when it is
 * missing (a few minutes the first time; reused afterwards). `TEMPORAL_CLI` overrides.
 */
export async function ensureTemporalCli(say: (line: string) => void = console.log): Promise<string> {
  const override = process.env.TEMPORAL_CLI;
  if (override) return override;
  const binDir = join(CACHE_DIR, 'bin');
  const binary = join(binDir, 'temporal');
  if (await executable(binary)) return binary;
  await mkdir(binDir, { recursive: true });
  say(`Building the Temporal CLI once with "go install ${TEMPORAL_CLI_MODULE}" into ${binDir}`);
  say('(this takes a few minutes the first time; later runs reuse it)');
  const started = Date.now();
  const ticker = setInterval(() => say(`  still building the Temporal CLI… ${Math.round((Date.now() - started) / 1000)} s`), 30_000);
  try {
    await run('go', ['install', TEMPORAL_CLI_MODULE], { ...process.env, GOBIN: binDir });
  } catch (e) {
    throw new Error(
      `could not build the Temporal CLI (${(e as Error).message}). Install Go (https://go.dev/dl/) or set TEMPORAL_CLI to an existing temporal binary.`,
    );
  } finally {
    clearInterval(ticker);
  }
  say(`Temporal CLI ready (${Math.round((Date.now() - started) / 1000)} s)`);
  return binary;
}


function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}
