import type { Gauge } from 'prom-client';

const SLOTS = 4;
const SLOT_MS = 15_000;

/**
 * The busiest organizations of the last minute on this gateway, published as a bounded
 * top-N gauge (`tollgate_org_calls_per_minute{org}`): per-organization figures without a
 * per-organization label for everyone. Counts live in four 15-second slots; every slot
 * turn the gauge is rebuilt from the last minute, so an organization that goes quiet
 * drops out of it.
 */
export class TopOrgs {
  private readonly slots: Array<Map<string, number>> = Array.from({ length: SLOTS }, () => new Map<string, number>());
  private current = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly gauge: Gauge<'org'>,
    private readonly n = 10,
    slotMs = SLOT_MS,
  ) {
    this.timer = setInterval(() => this.turn(), slotMs);
    this.timer.unref();
  }

  note(orgId: string): void {
    const slot = this.slots[this.current]!;
    slot.set(orgId, (slot.get(orgId) ?? 0) + 1);
  }

  /** Publishes the last minute's top organizations and starts a new slot. */
  turn(): void {
    const totals = new Map<string, number>();
    for (const slot of this.slots) for (const [org, n] of slot) totals.set(org, (totals.get(org) ?? 0) + n);
    this.gauge.reset();
    for (const [org, n] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, this.n)) this.gauge.set({ org }, n);
    this.current = (this.current + 1) % SLOTS;
    this.slots[this.current]!.clear();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
