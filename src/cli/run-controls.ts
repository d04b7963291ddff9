/**
 * What `sseg train` and `sseg selftrain train` share around the training loop: Ctrl-C / SIGTERM stop after the step
 * with a checkpoint (a second signal quits), the time estimate after the first steps, the progress line with the
 * losses and validations, and the closing summary line.
 */
import type { LogRecord } from "../train/log.js";
import type { LoopSummary } from "../train/loop.js";
import { formatDuration, Progress } from "./progress.js";

const STOPPED = { done: "finished", interrupted: "stopped (interrupted)", time: "stopped (--max-minutes)" };

export interface RunControls {
  onEstimate: (secondsPerStep: number, stepsLeft: number) => void;
  shouldStop: () => boolean;
  onStep: (step: number, record: LogRecord) => void;
  /** Remove the signal handlers and print the summary line. */
  finish: (summary: LoopSummary<unknown>) => void;
}

/** `describeValidation` turns a logged validation into the line printed when it happens. */
export function runControls(
  label: string,
  steps: number,
  maxMinutes: string | undefined,
  describeValidation: (validation: unknown) => string,
): RunControls {
  let progress: Progress | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(signal === "SIGTERM" ? 143 : 130);
    interrupted = true;
    console.error(
      `\n${signal}: stopping after this step and saving a checkpoint (send it again to quit at once)`,
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    onEstimate: (secondsPerStep, stepsLeft) => {
      const seconds = secondsPerStep * stepsLeft;
      const ends = new Date(Date.now() + seconds * 1000).toTimeString().slice(0, 5);
      const cut = maxMinutes ? `; this run stops at a checkpoint before ${maxMinutes} min` : "";
      console.error(
        `\n${secondsPerStep.toFixed(2)} s/step over the first steps: the ${stepsLeft} steps left take about ${formatDuration(seconds)} (until ~${ends})${cut}`,
      );
    },
    shouldStop: () => interrupted,
    onStep: (step, record) => {
      // created at the first step, whose time (start-up, first-call costs) would skew the rate
      progress ??= new Progress(label, steps, "steps", step);
      const parts = Object.entries(record.losses)
        .map(([name, value]) => `${name} ${value.toFixed(3)}`)
        .join(" ");
      if (record.val) console.error(`\nstep ${step} validation: ${describeValidation(record.val)}`);
      progress.update(step, parts);
    },
    finish: (summary) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      console.log(
        `${STOPPED[summary.stopReason]} at step ${summary.steps}: ${summary.samplesPerSecond.toFixed(1)} samples/s, peak RSS ${summary.peakRssMb.toFixed(0)} MB, ${summary.seconds.toFixed(0)} s; ${summary.skippedSamples || "no samples skipped"}`,
      );
    },
  };
}

export const percent = (x: number) => (100 * x).toFixed(1);
