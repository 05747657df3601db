import { PassThrough } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { JSONRPCErrorResponse, JSONRPCMessage, JSONRPCResponse } from '@modelcontextprotocol/server';
import type { ExchangeSink } from './exchange-mux.js';

export interface ResponseModes {
  /** The client accepts `text/event-stream`. */
  readonly sse: boolean;
  /** The client accepts `application/json`. */
  readonly json: boolean;
}

/** What an Accept header allows (a missing header or `*\/*` allows both). */
export function responseModes(accept: string | undefined): ResponseModes {
  const a = (accept ?? '*/*').toLowerCase();
  const any = a.includes('*/*');
  const sse = any || a.includes('text/event-stream');
  const json = any || a.includes('application/json') || !sse;
  return { sse, json };
}

export interface WriterTiming {
  /** Start streaming (with keep-alive comments) when no answer came within this time. */
  readonly streamAfterMs: number;
  /** Interval of SSE keep-alive comments, so proxies keep long calls open. */
  readonly keepAliveMs: number;
}

/**
 * Writes one Streamable HTTP exchange: a single JSON body when the answer comes alone,
 * or an SSE stream as soon as a related message (progress) precedes it, or when the
 * call runs longer than `streamAfterMs` (keep-alive comments then hold proxies open).
 */
export class HttpExchangeWriter implements ExchangeSink {
  private stream: PassThrough | undefined;
  private finished = false;
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly streamTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly reply: FastifyReply,
    private readonly modes: ResponseModes,
    private readonly headers: Record<string, string>,
    private readonly timing: WriterTiming,
  ) {
    if (modes.sse && !modes.json) this.startStream();
    else if (modes.sse) this.streamTimer = setTimeout(() => this.startStream(), timing.streamAfterMs);
  }

  get isFinished(): boolean {
    return this.finished;
  }

  related(message: JSONRPCMessage): void {
    if (this.finished) return;
    if (!this.stream) {
      if (!this.modes.sse) return; // a JSON-only client cannot receive messages before the answer
      this.startStream();
    }
    this.writeEvent(message);
  }

  end(response: JSONRPCResponse | JSONRPCErrorResponse): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.streamTimer);
    clearInterval(this.keepAlive);
    if (this.stream) {
      this.writeEvent(response);
      this.stream.end();
      return;
    }
    if (this.reply.sent || this.reply.raw.destroyed) return;
    this.reply.code(200).headers(this.headers).send(response);
  }

  /** Stops timers when the client went away before the answer. */
  abandon(): void {
    this.finished = true;
    clearTimeout(this.streamTimer);
    clearInterval(this.keepAlive);
    this.stream?.end();
  }

  private startStream(): void {
    if (this.stream || this.finished || this.reply.sent) return;
    const stream = new PassThrough();
    this.stream = stream;
    this.reply
      .code(200)
      .headers({
        ...this.headers,
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      })
      .send(stream);
    this.keepAlive = setInterval(() => stream.write(': keep-alive\n\n'), this.timing.keepAliveMs);
    this.keepAlive.unref();
  }

  private writeEvent(message: JSONRPCMessage): void {
    this.stream?.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }
}
