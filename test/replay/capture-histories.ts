/**
 * Records workflow histories for the replay test: `npx tsx test/replay/capture-histories.ts`.
 * Starts its own Temporal dev server and worker, runs each case, and saves the history as
 * `temporal workflow show --output json` prints it. Re-record when a workflow changes on
 * purpose (with `patched()`), keep old files: they prove old runs still replay.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../platform/config.js';
import { createRedis } from '../../platform/redis/client.js';
import { ensureTemporalCli } from '../../scripts/lib/temporal-cli.js';
import { startDevServer } from '../../scripts/lib/temporal-dev-server.js';
import { createToolCallsWorker } from '../../workers/src/tool-calls-worker.js';
import { TOOL_CALL_WORKFLOW, type ToolCallInput, type ToolCallWorkflow } from '../../core/temporal/contracts.js';

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const cli = await ensureTemporalCli();
const server = await startDevServer({ cli, port, headless: true });
const config = loadConfig({ TEMPORAL_ADDRESS: server.address, TOLLGATE_TASK_QUEUE_PREFIX: 'capture-' });
const redis = createRedis(config.redis);
const worker = await createToolCallsWorker({ config, connection: await NativeConnection.connect({ address: server.address }), redis });
const running = worker.run();
const client = new Client({ connection: await Connection.connect({ address: server.address }) });

const input = (callId: string, args: unknown): ToolCallInput => ({
  callId,
  requestId: `req_${callId}`,
  tool: 'count_primes',
  args,
  orgId: 'org_CaptureCaptureCapture',
  userId: 'usr_CaptureCaptureCapture',
  keyId: 'key_CaptureCaptureCapture',
  plan: 'pro',
  timeouts: { startToCloseMs: 60_000, heartbeatMs: 10_000, maxAttempts: 3 },
});

async function record(name: string, callId: string, args: unknown, cancelAfterMs?: number): Promise<void> {
  const workflowId = `tool-call/org_CaptureCaptureCapture/${callId}`;
  const handle = await client.workflow.start<ToolCallWorkflow>(TOOL_CALL_WORKFLOW, {
    workflowId,
    taskQueue: config.temporal.taskQueues.toolCalls,
    args: [input(callId, args)],
  });
  if (cancelAfterMs !== undefined) setTimeout(() => void handle.cancel(), cancelAfterMs);
  await handle.result().catch(() => {});
  const shown = spawnSync(cli, ['workflow', 'show', '--address', server.address, '-w', workflowId, '--output', 'json'], { encoding: 'utf8' });
  if (shown.status !== 0) throw new Error(shown.stderr);
  writeFileSync(new URL(`./histories/toolCallWorkflow/${name}.json`, import.meta.url), shown.stdout);
  console.log(`recorded ${name}`);
}

await record('completed', 'call_CaptureCompleted01', { from: 0, to: 1_000_000, steps: 3 });
await record('cancelled', 'call_CaptureCancelled01', { from: 0, to: 50_000_000_000, steps: 5_000 }, 1_500);
await record('failed-invalid-args', 'call_CaptureFailed00001', { from: 10, to: 1 });

worker.shutdown();
await running;
redis.disconnect();
await server.stop();
