import type { FastifyBaseLogger as Logger } from 'fastify';
import type { Principal } from '../../../core/principal.js';
import { noop } from './noop.js';
import { textStats } from './text-stats.js';

export interface InlineToolContext {
  readonly principal: Principal;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/** Runs an inline tool with arguments already validated by the tool's input schema. */
export type InlineToolImpl = (args: never, ctx: InlineToolContext) => unknown;

/** Implementations of the catalog's `inline` tools, by name. */
export const INLINE_TOOLS: Readonly<Record<string, InlineToolImpl>> = {
  text_stats: textStats,
  noop,
};
