import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import { parseJSONRPCMessage } from '@modelcontextprotocol/server';
import { WebSocket, type RawData } from 'ws';

/** WebSocket close codes this transport uses (RFC 6455 §7.4.1). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
} as const;

export interface WebSocketTransportOptions {
  /** Interval of server pings; a peer that misses one full interval is dropped. 0 disables. */
  readonly pingIntervalMs: number;
}

/**
 * MCP over one WebSocket: one JSON-RPC message per text frame (subprotocol `mcp`).
 *
 * Handlers are attached in the constructor, synchronously, so no frame that arrives
 * before `start()` is lost (they are buffered). A frame that is not JSON gets a
 * JSON-RPC parse error and the session goes on; a frame that is JSON but not a JSON-RPC
 * message gets an invalid-request error. Binary frames close the socket with 1003;
 * oversized frames are closed with 1009 by the `ws` server's `maxPayload`. Server pings
 * keep idle sessions alive through proxies and detect dead peers.
 */
export class WebSocketServerTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T) => void;

  private started = false;
  private closed = false;
  private alive = true;
  private readonly buffered: JSONRPCMessage[] = [];
  private readonly pinger: NodeJS.Timeout | undefined;
  /** Ids of the peer's requests not answered yet (what a drain waits for). */
  private readonly pending = new Set<string | number>();
  private draining: { readonly code: number; readonly reason: string; readonly done: () => void } | undefined;

  constructor(
    private readonly socket: WebSocket,
    options: WebSocketTransportOptions,
  ) {
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => this.handleClose());
    socket.on('error', (err) => this.onerror?.(err));
    if (options.pingIntervalMs > 0) {
      this.pinger = setInterval(() => this.ping(), options.pingIntervalMs);
      this.pinger.unref();
    }
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const message of this.buffered.splice(0)) this.onmessage?.(message);
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.resolve();
    const answered = isResponse(message) ? message.id : null;
    return new Promise<void>((resolve, reject) => {
      this.socket.send(JSON.stringify(message), (err) => {
        if (answered !== null && this.pending.delete(answered)) this.closeIfDrained();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Requests received and not answered yet. */
  get inflight(): number {
    return this.pending.size;
  }

  /**
   * Graceful end: requests already running finish and are answered, new ones are refused
   * (JSON-RPC error), and the socket closes with `code` once nothing is pending, or after
   * `timeoutMs` at the latest. Resolves when the close frame has been sent.
   */
  drain(code: number, reason: string, timeoutMs: number): Promise<void> {
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.closeWith(code, reason);
        resolve();
      }, timeoutMs);
      this.draining = {
        code,
        reason,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.closeIfDrained();
    });
  }

  private closeIfDrained(): void {
    if (!this.draining || this.pending.size > 0) return;
    this.closeWith(this.draining.code, this.draining.reason);
    this.draining.done();
  }

  async close(): Promise<void> {
    this.closeWith(CLOSE.normal, 'session closed');
  }

  /** Closes the socket with `code`; `onclose` fires once the socket has closed. */
  closeWith(code: number, reason: string): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code, reason);
    }
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (isBinary) {
      this.closeWith(CLOSE.unsupportedData, 'send one JSON-RPC message per text frame');
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(rawText(data));
    } catch {
      this.reject(null, -32700, 'Parse error: the frame is not valid JSON');
      return;
    }
    let message: JSONRPCMessage;
    try {
      message = parseJSONRPCMessage(value);
    } catch {
      const id = (value as { id?: unknown } | null)?.id;
      this.reject(typeof id === 'string' || typeof id === 'number' ? id : null, -32600, 'Invalid Request: not a JSON-RPC 2.0 message (send one message per frame; batches are not supported)');
      return;
    }
    if (isRequest(message)) {
      if (this.draining) {
        this.reject(message.id, -32000, 'the server is shutting down; reconnect and retry');
        return;
      }
      this.pending.add(message.id);
    }
    if (this.started) this.onmessage?.(message);
    else this.buffered.push(message);
  }

  private reject(id: string | number | null, code: number, message: string): void {
    this.send({ jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage).catch(() => {});
  }

  private ping(): void {
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    this.socket.ping();
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    this.pending.clear();
    this.draining?.done();
    this.onclose?.();
  }
}

function isRequest(m: JSONRPCMessage): m is JSONRPCMessage & { id: string | number; method: string } {
  return 'method' in m && 'id' in m && (typeof m.id === 'string' || typeof m.id === 'number');
}

function isResponse(m: JSONRPCMessage): m is JSONRPCMessage & { id: string | number | null } {
  return !('method' in m) && 'id' in m && ('result' in m || 'error' in m);
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
