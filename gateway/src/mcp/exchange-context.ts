import type { FastifyBaseLogger } from 'fastify';
import type { Principal } from '../../../core/principal.js';
import type { ToolDefinition } from '../../../core/tools/define.js';
import type { Permit } from '../admission/admission.js';

/** A request that passed the gate: for tools/call, the tool; always, the admission that charged it. */
export interface AdmittedCall {
  readonly tool?: ToolDefinition;
  readonly permit: Permit;
}

/**
 * What the transports know about one inbound MCP request and hand to the handlers:
 * who is calling, under which request id, and (for tools/call) what the gate admitted.
 * The transports keep it keyed by the JSON-RPC id they deliver to the server instance.
 */
export interface ExchangeContext {
  readonly principal: Principal;
  readonly requestId: string;
  readonly log: FastifyBaseLogger;
  readonly transport: 'http' | 'ws';
  /** The client's IP address (behind a proxy: as `TOLLGATE_TRUST_PROXY` allows). */
  readonly ip: string;
  readonly admitted?: AdmittedCall;
}

/** Looks up the context of a request an MCP server instance is handling. */
export type ExchangeContextLookup = (rpcId: string | number) => ExchangeContext | undefined;
