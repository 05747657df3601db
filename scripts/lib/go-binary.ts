import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { executable } from './executables.js';
import { CACHE_DIR } from './paths.js';

export interface GoBinary {
  /** The binary's file name, e.g. `temporal`. */
  readonly name: string;
  /** What `go install` builds, with its version: `github.com/…/cmd/temporal@v1.5.1`. */
  readonly module: string;
  /** An environment variable naming an existing binary to use instead (never built). */
  readonly overrideEnv: string;
  /** What the build costs, said before it starts ("a few minutes"). */
  readonly expect: string;
}

/**
 * Path of a Go-built tool, building it once with `go install` into the machine's cache
 * (`~/.cache/tollgate/bin`, shared by clones and CI runs) when it is missing, with
 * progress lines while it builds. `$overrideEnv` points at an existing binary instead.
 */
export async function ensureGoBinary(tool: GoBinary, say: (line: string) => void = console.log): Promise<string> {
  const override = process.env[tool.overrideEnv];
  if (override) return override;
  const binDir = join(CACHE_DIR, 'bin');
  const binary = join(binDir, tool.name);
  if (await executable(binary)) return binary;
  await mkdir(binDir, { recursive: true });
  say(`Building ${tool.name} once with "go install ${tool.module}" into ${binDir}`);
  say(`(${tool.expect} the first time; later runs reuse it)`);
  const started = Date.now();
  const ticker = setInterval(() => say(`  still building ${tool.name}… ${Math.round((Date.now() - started) / 1000)} s`), 30_000);
  try {
    await run('go', ['install', tool.module], { ...process.env, GOBIN: binDir });
  } catch (e) {
    throw new Error(`could not build ${tool.name} (${(e as Error).message}). Install Go (https://go.dev/dl/) or set ${tool.overrideEnv} to an existing ${tool.name} binary.`);
  } finally {
    clearInterval(ticker);
  }
  say(`${tool.name} ready (${Math.round((Date.now() - started) / 1000)} s)`);
  return binary;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}
