import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import { CLOSE, WebSocketServerTransport } from './ws-transport.js';

/** Frames a client received, awaitable one by one. */
class Inbox {
  readonly frames: Array<{ text: string; isBinary: boolean }> = [];
  private waiters: Array<() => void> = [];
  private read = 0;

  constructor(client: WebSocket) {
    client.on('message', (data, isBinary) => {
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      this.frames.push({ text: buffer.toString('utf8'), isBinary });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  async next(): Promise<unknown> {
    while (this.frames.length <= this.read) await new Promise<void>((resolve) => this.waiters.push(resolve));
    const frame = this.frames[this.read++]!;
    expect(frame.isBinary).toBe(false);
    return JSON.parse(frame.text);
  }
}

const servers: WebSocketServer[] = [];

afterEach(async () => {
  for (const wss of servers.splice(0)) {
    for (const socket of wss.clients) socket.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
});

/** A real `ws` server on 127.0.0.1 and a real client connected to it, with the server side wrapped in the transport. */
async function connect(opts: { pingIntervalMs?: number; maxPayload?: number; client?: ClientOptions } = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...(opts.maxPayload ? { maxPayload: opts.maxPayload } : {}) });
  servers.push(wss);
  await once(wss, 'listening');
  const { port } = wss.address() as AddressInfo;

  const serverSide = new Promise<{ socket: WebSocket; transport: WebSocketServerTransport }>((resolve) => {
    wss.once('connection', (socket) => {
      // As the gateway does: the transport is built synchronously when the socket opens.
      resolve({ socket, transport: new WebSocketServerTransport(socket, { pingIntervalMs: opts.pingIntervalMs ?? 0 }) });
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${port}/mcp`, 'mcp', opts.client);
  const inbox = new Inbox(client);
  const closed = once(client, 'close') as Promise<[number, Buffer]>;
  await once(client, 'open');
  const { socket, transport } = await serverSide;
  let closes = 0;
  const serverClosed = new Promise<void>((resolve) => {
    transport.onclose = () => {
      closes++;
      resolve();
    };
  });
  return { client, inbox, closed, socket, transport, serverClosed, closeCount: () => closes };
}

/** The next message the transport hands to the server. */
function nextDelivered(transport: WebSocketServerTransport): Promise<JSONRPCMessage> {
  return new Promise((resolve) => {
    transport.onmessage = (message) => resolve(message);
  });
}

const ping: JSONRPCMessage = { jsonrpc: '2.0', id: 1, method: 'ping' };
const initialized: JSONRPCMessage = { jsonrpc: '2.0', method: 'notifications/initialized' };

describe('WebSocketServerTransport', () => {
  it('buffers messages that arrive before start() and delivers them, in order, after it', async () => {
    const { client, socket, transport } = await connect();
    const delivered: JSONRPCMessage[] = [];
    transport.onmessage = (message) => {
      delivered.push(message);
    };
    let frames = 0;
    const bothArrived = new Promise<void>((resolve) =>
      socket.on('message', () => {
        if (++frames === 2) resolve();
      }),
    );

    client.send(JSON.stringify(ping));
    client.send(JSON.stringify(initialized));
    await bothArrived;
    expect(delivered).toEqual([]);

    await transport.start();
    expect(delivered).toEqual([ping, initialized]);

    const third = { jsonrpc: '2.0', id: 2, method: 'tools/list' } as const;
    const next = nextDelivered(transport);
    client.send(JSON.stringify(third));
    expect(await next).toEqual(third);
  });

  it('answers a frame that is not JSON with a -32700 error and keeps the session open', async () => {
    const { client, inbox, transport } = await connect();
    await transport.start();

    client.send('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(await inbox.next()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringContaining('Parse error') as string } });

    const next = nextDelivered(transport);
    client.send(JSON.stringify(ping));
    expect(await next).toEqual(ping);
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it.each([
    ['an object that is not JSON-RPC, echoing its numeric id', { id: 7, hello: 'world' }, 7],
    ['an object that is not JSON-RPC, echoing its string id', { jsonrpc: '1.0', id: 'abc', method: 'ping' }, 'abc'],
    ['a batch', [ping, initialized], null],
    ['a bare value', 42, null],
    ['null', null, null],
  ])('answers %s with a -32600 error', async (_what, value, id) => {
    const { client, inbox, transport } = await connect();
    const delivered: JSONRPCMessage[] = [];
    transport.onmessage = (message) => {
      delivered.push(message);
    };
    await transport.start();

    client.send(JSON.stringify(value));
    expect(await inbox.next()).toEqual({ jsonrpc: '2.0', id, error: { code: -32600, message: expect.stringContaining('Invalid Request') as string } });
    expect(delivered).toEqual([]);
    expect(client.readyState).toBe(WebSocket.OPEN);
  });

  it('closes the socket with 1003 on a binary frame', async () => {
    const { client, closed, transport, serverClosed } = await connect();
    const delivered: JSONRPCMessage[] = [];
    transport.onmessage = (message) => {
      delivered.push(message);
    };
    await transport.start();

    client.send(Buffer.from(JSON.stringify(ping)), { binary: true });
    const [code] = await closed;
    expect(code).toBe(CLOSE.unsupportedData);
    await serverClosed;
    expect(delivered).toEqual([]);
  });

  it('sends a message as one JSON text frame', async () => {
    const { inbox, transport, closed } = await connect();
    await transport.start();
    const response: JSONRPCMessage = { jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'text_stats', description: 'ünïcödé ✓' }] } };

    await transport.send(response);
    expect(await inbox.next()).toEqual(response);

    await transport.close();
    await closed;
    expect(inbox.frames).toEqual([{ text: JSON.stringify(response), isBinary: false }]);
  });

  it('closes with 1000 and fires onclose once', async () => {
    const { closed, transport, serverClosed, closeCount } = await connect();
    await transport.start();

    await transport.close();
    const [code, reason] = await closed;
    expect(code).toBe(CLOSE.normal);
    expect(reason.toString()).toBe('session closed');
    await serverClosed;

    await transport.close();
    await transport.send(ping); // a no-op on a closed socket, not an error
    expect(closeCount()).toBe(1);
  });

  it('fires onclose when the client closes', async () => {
    const { client, transport, serverClosed, closeCount } = await connect();
    await transport.start();
    client.close(CLOSE.goingAway);
    await serverClosed;
    expect(closeCount()).toBe(1);
  });

  it('terminates a client that does not answer pings', async () => {
    const { client, closed, serverClosed } = await connect({ pingIntervalMs: 20, client: { autoPong: false } });
    let pings = 0;
    client.on('ping', () => pings++);

    const [code] = await closed;
    expect(code).toBe(1006); // terminated: no close frame
    expect(pings).toBeGreaterThanOrEqual(1);
    await serverClosed;
  });

  it('keeps a client that answers pings', async () => {
    const { client, transport, closeCount } = await connect({ pingIntervalMs: 50 });
    // Each ping after the first is sent only if the previous one was answered.
    await new Promise<void>((resolve) => {
      let pings = 0;
      client.on('ping', () => {
        if (++pings === 3) resolve();
      });
    });
    expect(client.readyState).toBe(WebSocket.OPEN);
    expect(closeCount()).toBe(0);
    await transport.close();
  });

  it("closes with 1009 on a frame over the server's maxPayload", async () => {
    const { client, closed, transport, serverClosed } = await connect({ maxPayload: 1024 });
    const errors: Error[] = [];
    transport.onerror = (err) => errors.push(err);
    await transport.start();

    client.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { text: 'x'.repeat(2048) } }));
    const [code] = await closed;
    expect(code).toBe(CLOSE.messageTooBig);
    await serverClosed;
    expect(errors.length).toBeGreaterThanOrEqual(1);
  });

  it('drains: a running request is answered, a new one is refused, then the socket closes with 1001', async () => {
    const { client, inbox, closed, transport } = await connect();
    await transport.start();
    const running = nextDelivered(transport);
    client.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow' } }));
    await running;
    expect(transport.inflight).toBe(1);

    const drained = transport.drain(CLOSE.goingAway, 'server shutting down', 10_000);
    client.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'late' } }));
    expect(await inbox.next()).toMatchObject({ id: 2, error: { code: -32000, message: expect.stringMatching(/shutting down/) as unknown } });
    expect(client.readyState).toBe(WebSocket.OPEN);

    await transport.send({ jsonrpc: '2.0', id: 1, result: { content: [] } });
    expect(await inbox.next()).toMatchObject({ id: 1, result: { content: [] } });
    await drained;
    const [code, reason] = await closed;
    expect(code).toBe(CLOSE.goingAway);
    expect(reason.toString()).toBe('server shutting down');
  });

  it('a drain closes at its deadline even when a request never ends', async () => {
    const { client, closed, transport } = await connect();
    await transport.start();
    const running = nextDelivered(transport);
    client.send(JSON.stringify({ jsonrpc: '2.0', id: 'stuck', method: 'tools/call', params: {} }));
    await running;
    await transport.drain(CLOSE.goingAway, 'server shutting down', 50);
    expect((await closed)[0]).toBe(CLOSE.goingAway);
  });
});
