import { randomUUID } from 'node:crypto';
import type { Server, Transport } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { ExchangeContextLookup } from './exchange-context.js';
import { ExchangeMux } from './exchange-mux.js';

/** Builds a server instance bound to one transport's exchange contexts. */
export type ServerBuilder = (contextOf: ExchangeContextLookup) => Server;

/**
 * Serves one MCP connection (a WebSocket, a 2025-era HTTP session, or the shared
 * 2026-07-28 HTTP hub) with one server instance. The SDK's connection entry decides the
 * era from the opening message (`initialize` pins 2025-era serving, a 2026-07-28
 * envelope pins the stateless revision, `server/discover` probes) and answers era
 * mismatches itself; it is named for stdio but takes any transport.
 */
export function serveConnection(transport: Transport, build: ServerBuilder, contextOf: ExchangeContextLookup, log: Logger): { close(): Promise<void> } {
  return serveStdio(() => build(contextOf), {
    transport,
    onerror: (err) => log.debug({ err }, 'mcp connection error'),
  });
}

/**
 * The one shared instance that serves all stateless (2026-07-28) HTTP traffic of this
 * process. Rebuilt on next use if it ever closes.
 */
export class ModernHub {
  private mux: ExchangeMux | undefined;
  private serving: { close(): Promise<void> } | undefined;

  constructor(
    private readonly build: ServerBuilder,
    private readonly log: Logger,
  ) {}

  get(): ExchangeMux {
    if (!this.mux || this.mux.isClosed) {
      const mux = new ExchangeMux('shared');
      this.serving = serveConnection(mux, this.build, mux.contextOf, this.log);
      this.mux = mux;
    }
    return this.mux;
  }

  get openExchanges(): number {
    return this.mux?.openExchanges ?? 0;
  }

  async close(): Promise<void> {
    await this.serving?.close();
    this.mux = undefined;
  }
}

/** A 2025-era HTTP session: its own instance, bound to the key that opened it. */
export interface LegacySession {
  readonly id: string;
  readonly keyId: string;
  readonly mux: ExchangeMux;
  lastUsedAt: number;
  /** The open standalone GET stream, if the client holds one. */
  standalone?: { send(message: unknown): void; end(): void };
  close(): Promise<void>;
}

/**
 * 2025-era sessions (`Mcp-Session-Id`) live in this process. Across replicas, a load
 * balancer keeps a session on its replica by hashing the header (see infra/nginx); a
 * request that lands elsewhere gets 404 and the client re-initializes, as the 2025
 * specification prescribes. Idle sessions expire.
 */
export class LegacySessions {
  private readonly sessions = new Map<string, LegacySession>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly build: ServerBuilder,
    private readonly log: Logger,
    private readonly opts: {
      maxSessions: number;
      idleMs: number;
      /** Told when a session opens and when it goes away (however it ends), for metrics. */
      onOpened?: () => void;
      onClosed?: () => void;
    },
  ) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), Math.min(60_000, opts.idleMs));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Opens a session, or returns undefined when this process holds its maximum. */
  open(keyId: string): LegacySession | undefined {
    if (this.sessions.size >= this.opts.maxSessions) this.sweep(Date.now());
    if (this.sessions.size >= this.opts.maxSessions) return undefined;
    const mux = new ExchangeMux('session');
    const serving = serveConnection(mux, this.build, mux.contextOf, this.log);
    const id = randomUUID();
    const session: LegacySession = {
      id,
      keyId,
      mux,
      lastUsedAt: Date.now(),
      close: async () => {
        this.remove(id);
        await serving.close();
      },
    };
    mux.unrelated = (message) => session.standalone?.send(message);
    mux.whenClosed(() => this.remove(id));
    this.sessions.set(id, session);
    this.opts.onOpened?.();
    return session;
  }

  /** The session `id` if it exists and belongs to `keyId`; other keys' sessions do not exist for them. */
  find(id: string, keyId: string): LegacySession | undefined {
    const session = this.sessions.get(id);
    if (!session || session.keyId !== keyId) return undefined;
    session.lastUsedAt = Date.now();
    return session;
  }

  /** Closes every session opened with `keyId` (the key was revoked). */
  async closeForKey(keyId: string): Promise<void> {
    await Promise.all([...this.sessions.values()].filter((s) => s.keyId === keyId).map((s) => s.close()));
  }

  /** Ends every standalone GET stream (they never end by themselves; a drain needs them gone). */
  endStreams(): void {
    for (const s of this.sessions.values()) s.standalone?.end();
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
  }

  private remove(id: string): void {
    if (this.sessions.delete(id)) this.opts.onClosed?.();
  }

  private sweep(now: number): void {
    for (const s of this.sessions.values()) {
      if (now - s.lastUsedAt > this.opts.idleMs && s.mux.openExchanges === 0) {
        this.log.debug({ sessionId: s.id }, 'idle mcp session closed');
        s.close().catch(() => {});
      }
    }
  }
}
