/**
 * Load generator, run as its own process so it does not share an event loop with the
 * server it measures. Keeps `concurrency` calls in flight for `durationMs` (after a
 * warm-up) and prints two JSON lines: one when the measured window opens, then calls/s and
 * latency percentiles.
 */
import http from 'node:http';
import WebSocket from 'ws';

export interface LoadSpec {
  readonly url: string;
  readonly mode: 'http-modern' | 'http-legacy' | 'ws';
  readonly key?: string;
  readonly tool: string;
  readonly args: Record<string, unknown>;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

export interface LoadResult {
  readonly calls: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'tollgate-bench', version: '1.0.0' },
};

const spec = JSON.parse(process.argv[2]!) as LoadSpec;
const url = new URL(spec.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: spec.concurrency });
const auth: Record<string, string> = spec.key ? { authorization: `Bearer ${spec.key}` } : {};

function post(headers: Record<string, string>, body: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...auth, ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let id = 0;
const callBody = (modern: boolean) =>
  JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: spec.tool, arguments: spec.args, ...(modern ? { _meta: META } : {}) } });

async function httpCaller(): Promise<() => Promise<boolean>> {
  if (spec.mode === 'http-modern') {
    const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': spec.tool };
    return async () => {
      const r = await post(headers, callBody(true));
      return r.status === 200 && r.text.includes('"result"');
    };
  }
  const init = await post({}, JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }));
  const session = init.headers['mcp-session-id'] as string;
  const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
  await post(headers, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  return async () => {
    const r = await post(headers, callBody(false));
    return r.status === 200 && r.text.includes('"result"');
  };
}

async function wsCallers(): Promise<Array<() => Promise<boolean>>> {
  return Promise.all(
    Array.from({ length: spec.concurrency }, async () => {
      const socket = new WebSocket(spec.url.replace(/^http/, 'ws'), ['mcp'], { headers: auth });
      const pending = new Map<number, (ok: boolean) => void>();
      socket.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown };
        if (typeof msg.id === 'number') {
          pending.get(msg.id)?.(msg.result !== undefined);
          pending.delete(msg.id);
        }
      });
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const rpc = (body: Record<string, unknown>) =>
        new Promise<boolean>((resolve) => {
          const n = ++id;
          pending.set(n, resolve);
          socket.send(JSON.stringify({ jsonrpc: '2.0', id: n, ...body }));
        });
      await rpc({ method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } });
      socket.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      return () => rpc({ method: 'tools/call', params: { name: spec.tool, arguments: spec.args } });
    }),
  );
}

const callers = spec.mode === 'ws' ? await wsCallers() : Array(spec.concurrency).fill(await httpCaller());
const latencies: number[] = [];
let errors = 0;
let recording = false;
const started = performance.now();
const stopAt = started + spec.warmupMs + spec.durationMs;
// The parent samples its processes' CPU time between this line and the result line.
setTimeout(() => {
  recording = true;
  process.stdout.write('{"phase":"recording"}\n');
}, spec.warmupMs);
await Promise.all(
  callers.map(async (call: () => Promise<boolean>) => {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      const ok = await call().catch(() => false);
      if (!recording) continue;
      if (ok) latencies.push(performance.now() - t0);
      else errors++;
    }
  }),
);
latencies.sort((a, b) => a - b);
const pct = (p: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
const result: LoadResult = { calls: latencies.length, errors, rps: Math.round(latencies.length / (spec.durationMs / 1000)), p50: pct(0.5), p99: pct(0.99) };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
