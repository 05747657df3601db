/**
 * Collects "this credential was used" marks and writes them in one batch per interval,
 * never on the request path. A lost batch (crash) only loses a timestamp.
 */
export class LastUsedRecorder {
  private pending = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly write: (ids: string[], at: Date) => Promise<void>,
    intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  mark(id: string): void {
    this.pending.add(id);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const ids = [...this.pending];
    this.pending = new Set();
    try {
      await this.write(ids, new Date());
    } catch (err) {
      this.onError(err);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
