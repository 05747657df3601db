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

  async reload(): Promise<void> {
    const plans = await loadPlans(this.pool);
    this.plans = new Map(plans.map((p) => [p.id, p]));
  }

  get(id: string): Plan | undefined {
    return this.plans.get(id);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
