import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { ensureStripeMock } from '../../scripts/lib/stripe-mock.js';

/** One request as stripe-mock received it: what Tollgate sent to "Stripe". */
export interface StripeRequest {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | undefined;
  /** The form-encoded body, flattened (`items[0][price]` → value). */
  readonly form: Record<string, string>;
}

export interface StripeStandIn {
  /** STRIPE_API_BASE for the code under test (the recording proxy). */
  readonly apiBase: string;
  /** Every request so far, in arrival order. */
  readonly requests: StripeRequest[];
  /**
   * The next request whose path starts with `pathPrefix` reaches stripe-mock, but its answer
   * is held back (the caller sees a hung Stripe) until `release()`; resolves once it arrived.
   */
  holdNext(pathPrefix: string): { arrived: Promise<StripeRequest>; release(): void };
  stop(): Promise<void>;
}

/**
 * stripe-mock (built once with `go install` into the machine cache) behind a small recording
 * proxy on 127.0.0.1: stripe-mock validates requests against Stripe's OpenAPI spec and
 * answers with fixtures but keeps no record, so the proxy notes each request (method, path,
 * idempotency key, body) for tests to assert on what "Stripe" received.
 */
export async function startStripeMock(): Promise<StripeStandIn> {
  const binary = await ensureStripeMock((line) => console.log(`[stripe-mock] ${line}`));
  const mock = spawn(binary, ['-http-addr', '127.0.0.1:', '-https-addr', '127.0.0.1:'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const mockAddress = await listeningAddress(mock);
  const requests: StripeRequest[] = [];
  const holds: { prefix: string; arrived: (r: StripeRequest) => void; released: Promise<void> }[] = [];

  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const recorded: StripeRequest = {
        method: req.method ?? 'GET',
        path: (req.url ?? '/').split('?')[0]!,
        idempotencyKey: header(req.headers['idempotency-key']),
        form: Object.fromEntries(new URLSearchParams(body.toString('utf8'))),
      };
      requests.push(recorded);
      const holdAt = holds.findIndex((h) => recorded.path.startsWith(h.prefix));
      const hold = holdAt >= 0 ? holds.splice(holdAt, 1)[0] : undefined;
      hold?.arrived(recorded);
      const upstream = httpRequest(`http://${mockAddress}${req.url ?? '/'}`, { method: req.method, headers: { ...req.headers, host: mockAddress } }, (up) => {
        const parts: Buffer[] = [];
        up.on('data', (c: Buffer) => parts.push(c));
        up.on('end', () => {
          void (hold?.released ?? Promise.resolve()).then(() => {
            if (res.destroyed) return;
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(Buffer.concat(parts));
          });
        });
      });
      upstream.on('error', () => {
        res.writeHead(502).end();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const port = (proxy.address() as { port: number }).port;

  return {
    apiBase: `http://127.0.0.1:${port}`,
    requests,
    holdNext(prefix) {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const arrived = new Promise<StripeRequest>((resolve) => holds.push({ prefix, arrived: resolve, released }));
      return { arrived, release };
    },
    async stop() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      if (mock.exitCode === null) {
        const exited = new Promise((r) => mock.once('exit', r));
        mock.kill('SIGTERM');
        await exited;
      }
    },
  };
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** stripe-mock prints "Listening for HTTP at address: 127.0.0.1:NNNNN" once it accepts. */
function listeningAddress(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`stripe-mock did not start within 20 s:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Listening for HTTP at address: ([\d.]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stripe-mock exited with ${code}:\n${out}`));
    });
  });
}
