import type { Redis } from '../../../platform/redis/client.js';
import { redisKeys } from '../../../core/redis-keys.js';

interface TierBudget {
  second: number;
  tokens: number;
  /** The pool granted nothing this second: refuse without asking Redis again. */
  exhausted: boolean;
  leasing?: Promise<void>;
}

/**
 * The per-tier global pool (platform protection), which cannot share the organization's
 * Redis Cluster slot. Each gateway leases tokens for the current second in batches and
 * spends them locally, so the hot path pays a second Redis call only once per batch.
 * Trade-off (docs/admission.md): tokens leased but not spent in their second are lost,
 * so the pool may admit slightly fewer than its limit, never more.
 */
export class GlobalPool {
  private readonly budgets = new Map<string, TierBudget>();

  constructor(
    private readonly redis: Redis,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token of `tier`'s pool for this second; false when the pool is spent. */
  async take(tier: string, perSecond: number): Promise<boolean> {
    for (;;) {
      const budget = this.budgetFor(tier);
      if (budget.tokens > 0) {
        budget.tokens--;
        return true;
      }
      if (budget.exhausted) return false;
      // Concurrent callers share one lease request; each loop either takes a token,
      // learns the pool is exhausted, or leases again because others took the batch.
      budget.leasing ??= this.lease(tier, budget, perSecond).finally(() => {
        budget.leasing = undefined;
      });
      await budget.leasing;
    }
  }

  /** Returns an unspent token (the call was refused at another level). */
  giveBack(tier: string): void {
    const budget = this.budgets.get(tier);
    if (budget && budget.second === this.second()) budget.tokens++;
  }

  private async lease(tier: string, budget: TierBudget, perSecond: number): Promise<void> {
    const second = budget.second;
    // Small batches keep the bound tight; 5% of the pool, 1 to 100 tokens.
    const batch = Math.max(1, Math.min(100, Math.ceil(perSecond / 20)));
    const granted = await this.redis.poolLease(redisKeys.poolSecond(tier, second), perSecond, batch);
    budget.tokens += granted;
    if (granted === 0) budget.exhausted = true;
  }

  private budgetFor(tier: string): TierBudget {
    const second = this.second();
    let budget = this.budgets.get(tier);
    if (!budget || budget.second !== second) {
      budget = { second, tokens: 0, exhausted: false };
      this.budgets.set(tier, budget);
    }
    return budget;
  }

  private second(): number {
    return Math.floor(this.now() / 1000);
  }
}
