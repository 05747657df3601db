import { Writable } from 'node:stream';

/** A pino destination that keeps every line, for assertions on what the platform logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(line);
    done();
  }

  /** Parsed entries whose `msg` equals `msg`. */
  entries(msg?: string): Array<Record<string, unknown>> {
    const all = this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    return msg === undefined ? all : all.filter((e) => e.msg === msg);
  }

  get text(): string {
    return this.lines.join('\n');
  }
}
