import { Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { TopOrgs } from './top-orgs.js';

describe('TopOrgs', () => {
  let top: TopOrgs | undefined;
  afterEach(() => top?.stop());

  const setup = (n: number) => {
    const registry = new Registry();
    const gauge = new Gauge({ name: 'org_calls', help: 'test', labelNames: ['org'] as const, registers: [registry] });
    top = new TopOrgs(gauge, n, 3_600_000);
    const values = async (): Promise<Record<string, number>> => Object.fromEntries((await gauge.get()).values.map((v) => [String(v.labels.org), v.value]));
    return { top, values };
  };

  it('publishes only the n busiest organizations of the last minute', async () => {
    const { top, values } = setup(2);
    for (const [org, n] of [['org_a', 5], ['org_b', 9], ['org_c', 1]] as const) for (let i = 0; i < n; i++) top.note(org);
    top.turn();
    expect(await values()).toEqual({ org_b: 9, org_a: 5 });
  });

  it('sums the four slots of the minute, and forgets an organization a minute after it went quiet', async () => {
    const { top, values } = setup(10);
    top.note('org_a');
    top.turn();
    top.note('org_a');
    top.note('org_b');
    top.turn();
    expect(await values()).toEqual({ org_a: 2, org_b: 1 });
    // Four slots make the minute: the first call counts until its slot is four turns old.
    top.turn();
    top.turn();
    expect(await values()).toEqual({ org_a: 2, org_b: 1 });
    top.turn();
    expect(await values()).toEqual({ org_a: 1, org_b: 1 });
    top.turn();
    expect(await values()).toEqual({});
  });
});
