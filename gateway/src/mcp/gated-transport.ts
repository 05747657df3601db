import type { JSONRPCMessage, RequestId, Transport, TransportSendOptions } from '@modelcontextprotocol/server';
import type { CallGate } from './call-gate.js';
import type { ExchangeContext } from './exchange-context.js';
import { errorResponse } from './to-wire-error.js';

/**
 * Puts the CallGate in front of a connection-oriented transport (WebSocket): every
 * inbound request is checked (plan, admission) before the server instance sees it, and
 * a refusal is answered on the connection as a JSON-RPC error. Messages are processed
 * strictly in arrival order, so a cancellation never overtakes the call it cancels.
 */
export class GatedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;

  private readonly contexts = new Map<RequestId, ExchangeContext>();
  /** Method of each request awaiting its answer, for the meter. */
  private readonly methods = new Map<RequestId, string>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly inner: Transport,
    private readonly gate: CallGate,
    private readonly contextFor: (request: { id: RequestId; method: string }) => ExchangeContext,
    /** Told about every request when its answer goes out (method, whether it succeeded). */
    private readonly meter: (method: string, ok: boolean) => void = () => {},
  ) {}

  readonly contextOf = (id: RequestId): ExchangeContext | undefined => this.contexts.get(id);

  start(): Promise<void> {
    this.inner.onmessage = (message) => {
      this.queue = this.queue.then(() => this.admit(message)).catch((err: unknown) => this.onerror?.(err as Error));
    };
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (err) => this.onerror?.(err);
    return this.inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (!('method' in message) && message.id !== undefined && message.id !== null) {
      this.contexts.delete(message.id);
      const method = this.methods.get(message.id);
      if (method !== undefined) {
        this.methods.delete(message.id);
        this.meter(method, !('error' in message));
      }
    }
    return this.inner.send(message, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async admit(message: JSONRPCMessage): Promise<void> {
    if (!('method' in message) || !('id' in message)) {
      this.onmessage?.(message);
      if ('method' in message && message.method === 'notifications/cancelled') {
        // A cancelled request gets no response, so its context would otherwise linger.
        const cancelled = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        if (cancelled !== undefined) {
          this.contexts.delete(cancelled);
          this.methods.delete(cancelled);
        }
      }
      return;
    }
    const context = this.contextFor(message);
    const outcome = await this.gate.check(message, context.principal, context.ip);
    if (!outcome.ok) {
      this.meter(message.method, false);
      context.log.info({ method: message.method, code: outcome.error.code, ...outcome.error.details }, 'mcp request refused');
      await this.inner.send(errorResponse(message.id, outcome.error, context.requestId) as JSONRPCMessage);
      return;
    }
    this.contexts.set(message.id, outcome.admitted ? { ...context, admitted: outcome.admitted } : context);
    this.methods.set(message.id, message.method);
    this.onmessage?.(message);
  }
}
