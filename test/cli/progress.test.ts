import assert from "node:assert/strict";
import { test } from "node:test";
import { Counter, formatDuration, Progress } from "../../src/cli/progress.js";

/** A stand-in for process.stderr that records what is written. */
function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
}

test("formatDuration", () => {
  assert.equal(formatDuration(42.4), "42s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(Number.NaN), "?");
});

test("the progress line shows the bar, counts, rate and ETA; off a terminal it prints every 10 %", () => {
  const { writes, stream } = fakeStream(false);
  const progress = new Progress("train", 100, "samples", 0, stream);
  const started = performance.now();
  const line = progress.line(25, "loss 3.2", started + 5000);
  assert.match(line, /^train \[######\.{18}\] 25\/100 · 5\.0 samples\/s · ETA 15s · loss 3\.2$/);
  for (let done = 1; done <= 100; done++) progress.update(done);
  assert.equal(writes.length, 11, "0 %, 10 %, …, 100 %");
  const tty = fakeStream(true);
  new Progress("val", 2, "", 0, tty.stream).update(2);
  assert.ok(tty.writes[0].startsWith("\r") && tty.writes[0].endsWith("\n"));
});

test("a counter of a stream of unknown length prints its count and rate at most every interval", () => {
  const { writes, stream } = fakeStream(false);
  const counter = new Counter("stats", "samples", 60_000, stream);
  const started = performance.now();
  assert.match(counter.line(300, started + 2000), /^stats · 300 samples · 1[45]\d\.\d samples\/s$/);
  for (let n = 1; n <= 1000; n++) counter.update(n);
  assert.equal(writes.length, 1, "the first update, then nothing within the interval");
  assert.match(writes[0], /^stats · 1 samples · .*\n$/);
  const tty = fakeStream(true);
  const inPlace = new Counter("stats", "samples", 0, tty.stream);
  inPlace.update(5);
  inPlace.done();
  assert.ok(tty.writes[0].startsWith("\r\x1b[K") && tty.writes[1] === "\n");
});
