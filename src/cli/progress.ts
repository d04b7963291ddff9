/**
 * Progress on stderr: on a terminal one line rewritten in place (bar, counts, rate, ETA, a detail text);
 * otherwise (CI, logs) a plain line every 10 % so logs stay short.
 */

/** "1h02m", "3m05s", "42s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

const BAR_WIDTH = 24;

export class Progress {
  private readonly started = performance.now();
  private lastReported = -1;

  /** `unit` names what `done` counts ("samples"); `startAt` is where a resumed job begins, for the rate. */
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit = "",
    private readonly startAt = 0,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  /** The line for `done` of `total`, with the rate since the start and the time left at that rate. */
  line(done: number, detail = "", now = performance.now()): string {
    const fraction = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? (done - this.startAt) / seconds : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Number.NaN;
    const unit = this.unit ? ` ${this.unit}` : "";
    return [
      `${this.label} [${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}] ${done}/${this.total}`,
      `${rate.toFixed(1)}${unit}/s`,
      `ETA ${formatDuration(eta)}`,
      ...(detail ? [detail] : []),
    ].join(" · ");
  }

  update(done: number, detail = ""): void {
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[K${this.line(done, detail)}${done >= this.total ? "\n" : ""}`);
      return;
    }
    const tenth = Math.floor((10 * done) / Math.max(1, this.total));
    if (tenth > this.lastReported || done >= this.total) {
      this.lastReported = tenth;
      this.stream.write(`${this.line(done, detail)}\n`);
    }
  }
}

/**
 * Progress of a job whose total is unknown (a stream of samples): "stats · 12000 samples · 850.1 samples/s",
 * at most once every `everyMs` (rewritten in place on a terminal).
 */
export class Counter {
  private readonly started = performance.now();
  private lastWrite = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly label: string,
    private readonly unit: string,
    private readonly everyMs = 2000,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  line(done: number, now = performance.now()): string {
    const seconds = (now - this.started) / 1000;
    return `${this.label} · ${done} ${this.unit} · ${(seconds > 0 ? done / seconds : 0).toFixed(1)} ${this.unit}/s`;
  }

  update(done: number): void {
    const now = performance.now();
    if (now - this.lastWrite < this.everyMs) return;
    this.lastWrite = now;
    this.stream.write(this.stream.isTTY ? `\r\x1b[K${this.line(done, now)}` : `${this.line(done, now)}\n`);
  }

  /** Ends a rewritten line so the next output starts on its own. */
  done(): void {
    if (this.stream.isTTY && this.lastWrite > Number.NEGATIVE_INFINITY) this.stream.write("\n");
  }
}
