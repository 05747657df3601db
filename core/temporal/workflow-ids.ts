/**
 * Workflow ids come from business identity, never randomness, so a retried request
 * finds the run it already started instead of starting a second one.
 */
export const workflowIds = {
  /** One run per tool call: organization + the call's request id. */
  toolCall: (orgId: string, callId: string): string => `tool-call/${orgId}/${callId}`,
} as const;

/** Redis pub/sub channel on which a tool call's progress travels to the gateway holding the caller. */
export const progressChannel = (workflowId: string): string => `tg:progress:${workflowId}`;
