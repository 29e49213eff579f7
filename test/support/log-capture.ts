/**
 * The log lines of the applications a test file starts, kept in memory. nestjs-pino builds one pino logger
 * per process (per test file under jest) with the options of the first application, so one capture serves
 * every application of a file, and LOG_LEVEL only counts for the first one started.
 */
export class LogCapture {
  private readonly kept: string[] = [];

  constructor(private readonly max = 20_000) {}

  /** pino's destination interface: one JSON line per call. */
  write(line: string): void {
    this.kept.push(line);
    if (this.kept.length > this.max) this.kept.shift();
  }

  /** Everything written since the last `clear()`, as one text. */
  text(): string {
    return this.kept.join('');
  }

  json(): Array<Record<string, unknown>> {
    return this.kept.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  clear(): void {
    this.kept.length = 0;
  }
}

export const logs = new LogCapture();
