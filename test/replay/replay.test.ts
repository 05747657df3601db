import { readdirSync, readFileSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { workflowSpanSinks } from '../../workers/src/tracing.js';

/**
 * Every recorded history of every workflow replays against today's workflow code: a
 * change that would break running workflows (non-determinism) fails here. Histories
 * are recorded with `npx tsx test/replay/capture-histories.ts`.
 */
const root = new URL('./histories/', import.meta.url);

describe('workflow replay', () => {
  for (const workflow of readdirSync(root)) {
    for (const file of readdirSync(new URL(`${workflow}/`, root)).filter((f) => f.endsWith('.json'))) {
      it(`${workflow}: ${file} replays deterministically`, async () => {
        const history = historyFromJSON(JSON.parse(readFileSync(new URL(`${workflow}/${file}`, root), 'utf8')));
        const results = Worker.runReplayHistories({ workflowBundle: { codePath: inject('workflowBundlePath') }, sinks: workflowSpanSinks(undefined) }, [
          { workflowId: `${workflow}/${file}`, history },
        ]);
        let count = 0;
        for await (const result of results) {
          count++;
          expect(result.error).toBeUndefined();
        }
        expect(count).toBe(1);
      });
    }
  }
});
