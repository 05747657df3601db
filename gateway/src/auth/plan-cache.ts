import type { Plan } from '../../../core/plans.js';
import type { Pool } from '../../../platform/pg/pool.js';
import { loadPlans } from '../../../platform/tenancy/plans-repo.js';

/**
 * Every plan, held in memory and reloaded on a short interval. The table is tiny and read
 * on every call, so a full reload is cheaper than invalidating rows one by one; an
 * operator's edit reaches every gateway within `refreshMs`.
 */
export class PlanCache {
  private plans = new Map<string, Plan>();
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly refreshMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    this.timer = setInterval(() => {
      this.reload().catch(this.onError);
    }, this.refreshMs);
    this.timer.unref();
  }

  /** Reloads every plan; concurrent callers share one query. */
  reload(): Promise<void> {
    this.reloading ??= loadPlans(this.pool)
      .then((plans) => {
        this.plans = new Map(plans.map((p) => [p.id, p]));
      })
      .finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  get(id: string): Plan | undefined {
    return this.plans.get(id);
  }

  /**
   * The plan `id`, reloading once when it is not held yet: a plan created a moment ago
   * (and an organization moved onto it) must work at once on every gateway, not only
   * after the next refresh or the plans-changed event reaches this one.
   */
  async resolve(id: string): Promise<Plan | undefined> {
    const held = this.plans.get(id);
    if (held) return held;
    await this.reload();
    return this.plans.get(id);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
