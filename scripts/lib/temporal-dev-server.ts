import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../core/temporal/search-attributes.js';

export interface DevServerOptions {
  readonly cli: string;
  readonly port: number;
  readonly uiPort?: number;
  readonly headless?: boolean;
  /** SQLite file for persistence across runs; in-memory when absent. */
  readonly dbFile?: string;
  readonly logFile?: string;
  readonly namespace?: string;
}

export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` with the platform's search attributes registered and
 * resolves once its frontend answers.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn'];
  if (opts.headless) args.push('--headless');
  else if (opts.uiPort) args.push('--ui-port', String(opts.uiPort));
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  for (const sa of SEARCH_ATTRIBUTE_REGISTRATIONS) args.push('--search-attribute', sa);
  // Timers in local runs fire on time; the dev server's defaults are tuned for that.
  const child: ChildProcess = spawn(opts.cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  // The last lines it printed go into the error when it dies before answering.
  let tail = '';
  const keepTail = (chunk: Buffer) => (tail = (tail + chunk.toString('utf8')).slice(-2_000));
  child.stdout?.on('data', keepTail);
  child.stderr?.on('data', keepTail);
  if (opts.logFile) {
    const out = createWriteStream(opts.logFile, { flags: 'a' });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
  }
  const address = `127.0.0.1:${opts.port}`;
  let exited: Error | undefined;
  child.once('exit', (code) => {
    exited = new Error(`temporal dev server on port ${opts.port} exited with code ${code}: ${tail.trim() || '(no output)'}`);
  });
  await waitForFrontend(address, 60_000, () => exited);
  return {
    address,
    uiUrl: opts.headless ? undefined : `http://127.0.0.1:${opts.uiPort ?? opts.port + 1000}`,
    stop: () => stopChild(child),
  };
}

/** Whether a Temporal frontend answers at `address`. */
export async function frontendAnswers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1_000 });
    try {
      await connection.withDeadline(Date.now() + 1_000, () => connection.workflowService.getSystemInfo({}));
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

async function waitForFrontend(address: string, timeoutMs: number, failed: () => Error | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const error = failed();
    if (error) throw error;
    if (await frontendAnswers(address)) return;
    if (Date.now() > deadline) throw new Error(`temporal dev server did not answer at ${address} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
