import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';
import { testEnv } from './env.js';
import { freePorts } from './ports.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildService {
  readonly child: ChildProcess;
  /** Everything the process wrote (NDJSON log lines). */
  output(): string;
  /** SIGTERM, then wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
}

function startChild(entry: string, env: NodeJS.ProcessEnv): ChildService {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface GatewayProcess extends ChildService {
  readonly mcpUrl: string;
  readonly adminUrl: string;
  readonly statusUrl: string;
}

/** A real gateway process (gateway/src/main.ts) on free ports, resolved once /ready answers 200. */
export async function spawnGateway(overrides: Record<string, string> = {}): Promise<GatewayProcess> {
  const [port, adminPort, statusPort] = await freePorts(3);
  const env = { ...process.env, ...testEnv({ PORT: String(port), ADMIN_PORT: String(adminPort), STATUS_PORT: String(statusPort), ...overrides }) };
  const service = startChild('gateway/src/main.ts', env);
  const statusUrl = `http://127.0.0.1:${statusPort}`;
  await waitForReady(`${statusUrl}/ready`, service, 30_000);
  return { ...service, mcpUrl: `http://127.0.0.1:${port}/mcp`, adminUrl: `http://127.0.0.1:${adminPort}`, statusUrl };
}

/** A real worker process (workers/src/tool-calls.worker.ts), resolved once it logs that it started. */
export function spawnWorker(overrides: Record<string, string> = {}): Promise<ChildService> {
  return spawnWorkerEntry('workers/src/tool-calls.worker.ts', overrides);
}

/** A real billing worker process (usage ingestor, usage maintenance Schedule), resolved once it started. */
export function spawnBillingWorker(overrides: Record<string, string> = {}): Promise<ChildService> {
  return spawnWorkerEntry('workers/src/billing.worker.ts', overrides);
}

async function spawnWorkerEntry(entry: string, overrides: Record<string, string>): Promise<ChildService> {
  // The suite's prebuilt workflow bundle: a worker process then starts in a second, not ten.
  const service = startChild(entry, { ...process.env, ...testEnv({ TOLLGATE_WORKFLOW_BUNDLE: inject('workflowBundlePath'), ...overrides }) });
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (service.output().includes('"msg":"worker started"')) resolve();
    };
    service.child.stdout!.on('data', check);
    service.child.once('exit', (code) => reject(new Error(`worker exited with ${code}:\n${service.output()}`)));
  });
  return service;
}

async function waitForReady(url: string, service: ChildService, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service.child.exitCode !== null) throw new Error(`process exited with ${service.child.exitCode}:\n${service.output()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms:\n${service.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
