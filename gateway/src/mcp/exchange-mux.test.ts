import type { JSONRPCErrorResponse, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import type { ExchangeContext } from './exchange-context.js';
import { ExchangeMux, type ExchangeSink } from './exchange-mux.js';

class RecordingSink implements ExchangeSink {
  readonly relatedMessages: Array<JSONRPCNotification | JSONRPCRequest> = [];
  readonly ends: Array<JSONRPCResponse | JSONRPCErrorResponse> = [];
  related(message: JSONRPCNotification | JSONRPCRequest): void {
    this.relatedMessages.push(message);
  }
  end(response: JSONRPCResponse | JSONRPCErrorResponse): void {
    this.ends.push(response);
  }
}

function context(requestId: string): ExchangeContext {
  return { requestId, transport: 'http' } as unknown as ExchangeContext;
}

function toolCall(id: string | number): JSONRPCRequest {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'text_stats', arguments: { text: 'hi' } } };
}

/** A mux with a fake server attached: everything the server receives is recorded. */
function setup(scope: 'shared' | 'session') {
  const mux = new ExchangeMux(scope);
  const received: JSONRPCMessage[] = [];
  mux.onmessage = (message) => {
    received.push(message);
  };
  const unrelated: JSONRPCMessage[] = [];
  mux.unrelated = (message) => unrelated.push(message);
  return { mux, received, unrelated };
}

describe('ExchangeMux', () => {
  it('rewrites the request id to an internal number and restores it on the response', async () => {
    const { mux, received } = setup('shared');
    const sink = new RecordingSink();
    const ctx = context('req_a');
    const id = mux.request(toolCall('client-1'), ctx, sink);

    expect(typeof id).toBe('number');
    expect(received).toEqual([{ ...toolCall('client-1'), id }]);
    expect(mux.contextOf(id!)).toBe(ctx);
    expect(mux.contextOf('client-1')).toBeUndefined();
    expect(mux.openExchanges).toBe(1);

    await mux.send({ jsonrpc: '2.0', id: id!, result: { content: [] } });
    expect(sink.ends).toEqual([{ jsonrpc: '2.0', id: 'client-1', result: { content: [] } }]);
    expect(mux.openExchanges).toBe(0);
    expect(mux.contextOf(id!)).toBeUndefined();
  });

  it('restores the id on error responses too', async () => {
    const { mux } = setup('shared');
    const sink = new RecordingSink();
    const id = mux.request(toolCall(5), context('req_a'), sink)!;
    await mux.send({ jsonrpc: '2.0', id, error: { code: -32602, message: 'bad arguments' } });
    expect(sink.ends).toEqual([{ jsonrpc: '2.0', id: 5, error: { code: -32602, message: 'bad arguments' } }]);
  });

  it('keeps clients that reuse the same id apart in shared scope', async () => {
    const { mux } = setup('shared');
    const a = new RecordingSink();
    const b = new RecordingSink();
    const idA = mux.request(toolCall(1), context('req_a'), a)!;
    const idB = mux.request(toolCall(1), context('req_b'), b)!;
    expect(idA).not.toBe(idB);

    await mux.send({ jsonrpc: '2.0', id: idB, result: { who: 'b' } });
    await mux.send({ jsonrpc: '2.0', id: idA, result: { who: 'a' } });
    expect(a.ends).toEqual([{ jsonrpc: '2.0', id: 1, result: { who: 'a' } }]);
    expect(b.ends).toEqual([{ jsonrpc: '2.0', id: 1, result: { who: 'b' } }]);
  });

  it('routes related messages to their exchange before its response', async () => {
    const { mux, unrelated } = setup('shared');
    const a = new RecordingSink();
    const b = new RecordingSink();
    const idA = mux.request(toolCall('a'), context('req_a'), a)!;
    const idB = mux.request(toolCall('b'), context('req_b'), b)!;

    const progress: JSONRPCNotification = { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 1, total: 2 } };
    const elicit: JSONRPCRequest = { jsonrpc: '2.0', id: 900, method: 'elicitation/create', params: { message: 'sure?' } };
    await mux.send(progress, { relatedRequestId: idB });
    await mux.send(elicit, { relatedRequestId: idA });

    expect(a.relatedMessages).toEqual([elicit]);
    expect(b.relatedMessages).toEqual([progress]);
    expect(a.ends).toEqual([]);
    expect(b.ends).toEqual([]);
    expect(unrelated).toEqual([]);
  });

  it('sends messages related to no open exchange to `unrelated`', async () => {
    const { mux, unrelated } = setup('shared');
    const sink = new RecordingSink();
    const id = mux.request(toolCall('a'), context('req_a'), sink)!;
    await mux.send({ jsonrpc: '2.0', id, result: {} });

    const listChanged: JSONRPCNotification = { jsonrpc: '2.0', method: 'notifications/tools/list_changed' };
    const late: JSONRPCNotification = { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 't', progress: 2 } };
    const stranger: JSONRPCNotification = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } };
    await mux.send(listChanged);
    await mux.send(late, { relatedRequestId: id }); // the exchange has already ended
    await mux.send(stranger, { relatedRequestId: 'client-id' });

    expect(unrelated).toEqual([listChanged, late, stranger]);
    expect(sink.relatedMessages).toEqual([]);
  });

  it('drops responses for unknown or already answered ids', async () => {
    const { mux, unrelated } = setup('shared');
    const sink = new RecordingSink();
    const id = mux.request(toolCall('a'), context('req_a'), sink)!;
    await mux.send({ jsonrpc: '2.0', id, result: { first: true } });
    await mux.send({ jsonrpc: '2.0', id, result: { second: true } });
    await mux.send({ jsonrpc: '2.0', id: 12_345, result: {} });
    await mux.send({ jsonrpc: '2.0', id: 'a', result: {} });
    expect(sink.ends).toEqual([{ jsonrpc: '2.0', id: 'a', result: { first: true } }]);
    expect(unrelated).toEqual([]);
  });

  it('passes client notifications and responses through to the server', () => {
    const { mux, received } = setup('shared');
    const initialized: JSONRPCNotification = { jsonrpc: '2.0', method: 'notifications/initialized' };
    const answer: JSONRPCResponse = { jsonrpc: '2.0', id: 900, result: { action: 'accept' } };
    mux.notify(initialized);
    mux.respond(answer);
    expect(received).toEqual([initialized, answer]);
  });

  describe("scope 'session'", () => {
    it('maps a cancellation by client id to the internal id and ends the exchange with -32800', async () => {
      const { mux, received } = setup('session');
      const sink = new RecordingSink();
      const other = new RecordingSink();
      const id = mux.request(toolCall('call-7'), context('req_a'), sink)!;
      mux.request(toolCall('call-8'), context('req_b'), other);
      received.length = 0;

      mux.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'call-7', reason: 'user pressed stop' } });

      expect(received).toEqual([{ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'user pressed stop' } }]);
      expect(sink.ends).toEqual([{ jsonrpc: '2.0', id: 'call-7', error: { code: -32800, message: 'Request cancelled' } }]);
      expect(other.ends).toEqual([]);
      expect(mux.openExchanges).toBe(1);

      // The server's late answer to the cancelled request goes nowhere.
      await mux.send({ jsonrpc: '2.0', id, result: {} });
      expect(sink.ends).toHaveLength(1);
    });

    it('gives a cancellation without a reason a default one', () => {
      const { mux, received } = setup('session');
      const id = mux.request(toolCall(3), context('req_a'), new RecordingSink())!;
      received.length = 0;
      mux.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3 } });
      expect(received).toEqual([{ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'cancelled by the client' } }]);
    });

    it('ignores a cancellation for a request that is not in flight', () => {
      const { mux, received } = setup('session');
      const sink = new RecordingSink();
      mux.request(toolCall('call-1'), context('req_a'), sink);
      received.length = 0;
      mux.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'call-2' } });
      expect(received).toEqual([]);
      expect(sink.ends).toEqual([]);
    });

    it('refuses a second request with an id that is still in flight, and accepts it again afterwards', async () => {
      const { mux, received } = setup('session');
      const first = new RecordingSink();
      const duplicate = new RecordingSink();
      const id = mux.request(toolCall(1), context('req_a'), first)!;

      expect(mux.request(toolCall(1), context('req_b'), duplicate)).toBeUndefined();
      expect(duplicate.ends).toEqual([{ jsonrpc: '2.0', id: 1, error: { code: -32600, message: expect.stringContaining('already in flight') as string } }]);
      expect(received).toHaveLength(1);
      expect(mux.openExchanges).toBe(1);

      await mux.send({ jsonrpc: '2.0', id, result: {} });
      expect(first.ends).toEqual([{ jsonrpc: '2.0', id: 1, result: {} }]);
      expect(mux.request(toolCall(1), context('req_c'), new RecordingSink())).toBeTypeOf('number');
    });
  });

  it("does not map cancellations by client id in scope 'shared' (ids are not unique there)", () => {
    const { mux, received } = setup('shared');
    const sink = new RecordingSink();
    mux.request(toolCall('call-7'), context('req_a'), sink);
    received.length = 0;
    mux.notify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'call-7' } });
    expect(received).toEqual([]);
    expect(sink.ends).toEqual([]);
  });

  it('cancels an exchange by internal id (the client went away)', () => {
    const { mux, received } = setup('shared');
    const sink = new RecordingSink();
    const id = mux.request(toolCall('x'), context('req_a'), sink)!;
    received.length = 0;
    mux.cancel(id, 'client disconnected');
    mux.cancel(id, 'again');
    expect(received).toEqual([{ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'client disconnected' } }]);
    expect(sink.ends).toEqual([{ jsonrpc: '2.0', id: 'x', error: { code: -32800, message: 'Request cancelled' } }]);
  });

  it('ends every open exchange with an error on close and tells its listeners once', async () => {
    const { mux } = setup('session');
    const a = new RecordingSink();
    const b = new RecordingSink();
    mux.request(toolCall('a'), context('req_a'), a);
    mux.request(toolCall(2), context('req_b'), b);
    const events: string[] = [];
    mux.onclose = () => events.push('onclose');
    mux.whenClosed(() => events.push('listener 1'));
    mux.whenClosed(() => events.push('listener 2'));

    await mux.close();
    await mux.close();

    expect(a.ends).toEqual([{ jsonrpc: '2.0', id: 'a', error: { code: -32000, message: 'Connection closed' } }]);
    expect(b.ends).toEqual([{ jsonrpc: '2.0', id: 2, error: { code: -32000, message: 'Connection closed' } }]);
    expect(events).toEqual(['onclose', 'listener 1', 'listener 2']);
    expect(mux.isClosed).toBe(true);
    expect(mux.openExchanges).toBe(0);
  });

  it('refuses requests after close without bothering the server', async () => {
    const { mux, received } = setup('shared');
    await mux.close();
    const sink = new RecordingSink();
    expect(mux.request(toolCall(9), context('req_a'), sink)).toBeUndefined();
    mux.notify({ jsonrpc: '2.0', method: 'notifications/initialized' });
    mux.respond({ jsonrpc: '2.0', id: 1, result: {} });
    expect(sink.ends).toEqual([{ jsonrpc: '2.0', id: 9, error: { code: -32000, message: 'Connection closed' } }]);
    expect(received).toEqual([]);
  });

  it('refuses requests before a server is connected', () => {
    const mux = new ExchangeMux('shared');
    const sink = new RecordingSink();
    expect(mux.request(toolCall(1), context('req_a'), sink)).toBeUndefined();
    expect(sink.ends).toEqual([{ jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'Connection closed' } }]);
  });
});
