import type {
  JSONRPCErrorResponse,
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResponse,
  RequestId,
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/server';
import type { ExchangeContext } from './exchange-context.js';

/** Where the messages of one HTTP exchange go: related messages first, then the terminal response. */
export interface ExchangeSink {
  /** A notification or server request related to the exchange, sent before its response. */
  related(message: JSONRPCNotification | JSONRPCRequest): void;
  /** The response, with the client's own request id restored. */
  end(response: JSONRPCResponse | JSONRPCErrorResponse): void;
}

interface OpenExchange {
  readonly clientId: RequestId;
  readonly context: ExchangeContext;
  readonly sink: ExchangeSink;
}

/**
 * An MCP `Transport` that carries many HTTP exchanges over one connection to one
 * long-lived server instance, so no request pays for building a server.
 *
 * Each inbound request gets a fresh internal JSON-RPC id (client ids collide across
 * clients sharing the instance); the server's response and every message it sends with
 * `relatedRequestId` are routed back to that exchange's sink, with the client's id
 * restored. Messages related to no open exchange go to `unrelated` (the 2025-era
 * standalone GET stream).
 *
 * `scope: 'session'` additionally maps client ids to internal ids, so a 2025-era
 * `notifications/cancelled` naming the client's id reaches the right request.
 */
export class ExchangeMux implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;
  /** Server messages that belong to no open exchange. */
  unrelated?: (message: JSONRPCMessage) => void;

  private nextId = 1;
  private readonly open = new Map<number, OpenExchange>();
  private readonly byClientId = new Map<RequestId, number>();
  private closed = false;
  private readonly closeListeners: Array<() => void> = [];

  constructor(private readonly scope: 'shared' | 'session') {}

  /** The context of the request the server instance knows as `rpcId`. */
  readonly contextOf = (rpcId: RequestId): ExchangeContext | undefined =>
    typeof rpcId === 'number' ? this.open.get(rpcId)?.context : undefined;

  get isClosed(): boolean {
    return this.closed;
  }

  get openExchanges(): number {
    return this.open.size;
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (!('method' in message)) {
      // A response (result or error) to one of our requests.
      if (typeof message.id !== 'number') return;
      const exchange = this.take(message.id);
      exchange?.sink.end({ ...message, id: exchange.clientId });
      return;
    }
    const related = options?.relatedRequestId;
    const exchange = typeof related === 'number' ? this.open.get(related) : undefined;
    if (exchange) exchange.sink.related(message);
    else this.unrelated?.(message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const open = [...this.open.values()];
    this.open.clear();
    this.byClientId.clear();
    for (const e of open) e.sink.end(closedError(e.clientId));
    this.onclose?.();
    for (const listener of this.closeListeners) listener();
  }

  /** Runs `listener` once the mux closes (`onclose` belongs to the serving entry). */
  whenClosed(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Delivers a client request; its response arrives at `sink`. Returns the internal id. */
  request(message: JSONRPCRequest, context: ExchangeContext, sink: ExchangeSink): number | undefined {
    if (this.closed || !this.onmessage) {
      sink.end(closedError(message.id));
      return undefined;
    }
    if (this.scope === 'session') {
      if (this.byClientId.has(message.id)) {
        sink.end({
          jsonrpc: '2.0',
          id: message.id,
          error: { code: -32600, message: `Invalid Request: request id ${JSON.stringify(message.id)} is already in flight` },
        });
        return undefined;
      }
    }
    const id = this.nextId++;
    this.open.set(id, { clientId: message.id, context, sink });
    if (this.scope === 'session') this.byClientId.set(message.id, id);
    this.onmessage({ ...message, id });
    return id;
  }

  /** Delivers a client notification (rewriting a cancellation's request id to ours). */
  notify(message: JSONRPCNotification): void {
    if (this.closed || !this.onmessage) return;
    if (message.method === 'notifications/cancelled') {
      const clientId = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      const id = clientId === undefined ? undefined : this.byClientId.get(clientId);
      if (id === undefined) return;
      this.cancel(id, (message.params as { reason?: string }).reason ?? 'cancelled by the client');
      return;
    }
    this.onmessage(message);
  }

  /** Delivers the client's response to a request the server sent it. */
  respond(message: JSONRPCResponse | JSONRPCErrorResponse): void {
    if (!this.closed) this.onmessage?.(message);
  }

  /**
   * Cancels an exchange (the client went away or asked to): the server's handler sees its
   * signal abort, and the exchange ends now because a cancelled request gets no response.
   */
  cancel(id: number, reason: string): void {
    const exchange = this.take(id);
    if (!exchange) return;
    this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
    exchange.sink.end({ jsonrpc: '2.0', id: exchange.clientId, error: { code: -32800, message: 'Request cancelled' } });
  }

  private take(id: number): OpenExchange | undefined {
    const exchange = this.open.get(id);
    if (!exchange) return undefined;
    this.open.delete(id);
    if (this.scope === 'session') this.byClientId.delete(exchange.clientId);
    return exchange;
  }
}

function closedError(id: RequestId): JSONRPCErrorResponse {
  return { jsonrpc: '2.0', id, error: { code: -32000, message: 'Connection closed' } };
}
