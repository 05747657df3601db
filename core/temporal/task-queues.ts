/** Task queues: one worker entrypoint per queue, so tool work and billing scale apart. */
export const TASK_QUEUES = {
  toolCalls: 'tollgate-tool-calls',
  billing: 'tollgate-billing',
} as const;
export type TaskQueue = (typeof TASK_QUEUES)[keyof typeof TASK_QUEUES];
