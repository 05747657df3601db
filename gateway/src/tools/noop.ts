import type { ToolInput, ToolOutput } from '../../../core/tools/define.js';
import type { noopTool } from '../../../core/tools/noop.tool.js';
import type { InlineToolContext } from './inline-tools.js';

/** Holds the call for `holdMs` (ending early if the call is cancelled), then returns the times. */
export async function noop({ holdMs }: ToolInput<typeof noopTool>, ctx: InlineToolContext): Promise<ToolOutput<typeof noopTool>> {
  const startedAt = Date.now();
  if (holdMs > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, holdMs);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
  return { startedAt, endedAt: Date.now() };
}
