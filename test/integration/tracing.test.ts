import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Pool } from '../../platform/pg/pool.js';
import { httpClient } from '../support/mcp-clients.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { ownerPool, startGateway, startWorker, type TestGateway, type TestWorker } from '../support/stack.js';
import { createTenant } from '../support/tenants.js';

/**
 * Tracing end to end: a gateway and a worker exporting to an in-process OTLP collector; one
 * workflow tool call must arrive as ONE trace running from the gateway's HTTP request
 * through admission, the tool call and the Temporal client into the workflow and its activity.
 */
let receiver: OtlpReceiver;
let stack: TestGateway;
let worker: TestWorker;
let pool: Pool;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  pool = ownerPool();
  stack = await startGateway({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
  worker = await startWorker(stack.config);
});

afterAll(async () => {
  await worker?.stop();
  await stack?.close();
  await pool?.end();
  await receiver?.close();
});

/** The span's ancestors, nearest first, as far as the received spans go. */
function ancestors(span: ReceivedSpan, trace: readonly ReceivedSpan[]): ReceivedSpan[] {
  const chain: ReceivedSpan[] = [];
  for (let s = span; s.parentSpanId; ) {
    const parent = trace.find((p) => p.spanId === s.parentSpanId);
    if (!parent) break;
    chain.push(parent);
    s = parent;
  }
  return chain;
}

describe('tracing', () => {
  it('is off unless an OTLP endpoint is configured', async () => {
    const plain = await startGateway();
    try {
      expect(plain.config.tracing.endpoint).toBeUndefined();
      expect(plain.tracing).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it('follows a workflow tool call from the HTTP request to the activity in one trace', async () => {
    expect(stack.tracing?.serviceName).toBe('tollgate-gateway');
    expect(worker.tracing?.serviceName).toBe('tollgate-worker');
    const tenant = await createTenant(pool, { plan: 'pro' });
    const client = await httpClient(stack.mcpUrl, tenant.key, 'modern');
    const result = await client.callTool({ name: 'count_primes', arguments: { to: 100_000, steps: 2 } });
    await client.close();
    expect(result.isError).toBeFalsy();

    // The activity's span names its workflow, whose id names the organization: find it, then its trace.
    let trace: ReceivedSpan[] = [];
    await vi.waitFor(
      async () => {
        await Promise.all([stack.tracing!.flush(), worker.tracing!.flush()]);
        const activity = receiver.spans.find(
          (s) => s.name === 'RunActivity:runWorkflowTool' && String(s.attributes.temporalWorkflowId).startsWith(`tool-call/${tenant.orgId}/`),
        );
        expect(activity).toBeDefined();
        trace = receiver.spans.filter((s) => s.traceId === activity!.traceId);
        // The workflow's own spans leave the sandbox when its activation completes.
        expect(trace.map((s) => s.name)).toContain('RunWorkflow:toolCallWorkflow');
      },
      { timeout: 20_000, interval: 200 },
    );

    const named = (name: string) => {
      const found = trace.filter((s) => s.name === name);
      expect(found, `one "${name}" span in the trace`).toHaveLength(1);
      return found[0]!;
    };
    const http = named('POST /mcp');
    const admission = named('admission');
    const toolCall = named('tools/call count_primes');
    const start = named('StartWorkflow:toolCallWorkflow');
    const run = named('RunWorkflow:toolCallWorkflow');
    const startActivity = named('StartActivity:runWorkflowTool');
    const activity = named('RunActivity:runWorkflowTool');

    // Which process made which span.
    for (const s of [http, admission, toolCall, start]) expect(s.service).toBe('tollgate-gateway');
    for (const s of [run, startActivity, activity]) expect(s.service).toBe('tollgate-worker');

    // The chain, each span the child of the one before it; the HTTP request is the root.
    expect(ancestors(activity, trace).map((s) => s.name)).toEqual([
      'StartActivity:runWorkflowTool',
      'RunWorkflow:toolCallWorkflow',
      'StartWorkflow:toolCallWorkflow',
      'tools/call count_primes',
      'POST /mcp',
    ]);
    expect(http.parentSpanId).toBeUndefined();
    expect(admission.parentSpanId).toBe(http.spanId);

    // What the spans say (and that the gateway's span says who called, not with what key).
    expect(http.kind).toBe(2); // SERVER
    expect(http.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/mcp', 'http.response.status_code': 200, 'tollgate.org_id': tenant.orgId, 'tollgate.tier': 'pro' });
    expect(admission.attributes).toMatchObject({ 'tollgate.admission.kind': 'tools/call', 'tollgate.admission.outcome': 'admitted', 'tollgate.admission.mode': 'redis', 'tollgate.tool': 'count_primes' });
    expect(toolCall.attributes).toMatchObject({ 'gen_ai.tool.name': 'count_primes', 'tollgate.outcome': 'ok', 'tollgate.call_id': admission.attributes['tollgate.call_id'] });
    expect(JSON.stringify(trace)).not.toContain(tenant.key);

    // The request's log line carries the trace id.
    const logged = stack.logs.entries('request completed').filter((e) => e.orgId === tenant.orgId && e.method === 'POST');
    expect(logged.map((e) => e.traceId)).toContain(http.traceId);
  });
});
