/**
 * What a training run leaves behind besides checkpoints: one JSON line per logged step (`log.jsonl`, appended,
 * so a resumed run continues it) and a loss-curve picture (`loss.png`) redrawn from that log.
 */
import { appendFile, readFile } from "node:fs/promises";
import sharp from "sharp";
import { writeFileAtomic } from "../io/atomic.js";

export interface LogRecord {
  step: number;
  /** Named loss values of this step (total first). */
  losses: Record<string, number>;
  [extra: string]: unknown;
}

/** Append records to a JSONL file. */
export async function appendLog(path: string, records: readonly LogRecord[]): Promise<void> {
  if (records.length === 0) return;
  await appendFile(path, records.map((r) => `${JSON.stringify(r)}\n`).join(""));
}

/**
 * The records of a JSONL log, keeping only steps below `beforeStep` (a resumed run drops what it will redo);
 * a torn last line (crash mid-write) is ignored.
 */
export async function readLog(path: string, beforeStep = Number.POSITIVE_INFINITY): Promise<LogRecord[]> {
  const text = await readFile(path, "utf8").catch(() => "");
  const records: LogRecord[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const record = JSON.parse(line) as LogRecord;
      if (record.step < beforeStep) records.push(record);
    } catch {
      // Only the last line can be torn; anything after it was never written.
      break;
    }
  }
  return records;
}

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
const WIDTH = 900;
const HEIGHT = 500;
const MARGIN = { left: 70, right: 190, top: 40, bottom: 50 };

/** Exponential moving average, the smoothing TensorBoard uses, so noisy per-step losses stay readable. */
export function smooth(values: readonly number[], weight: number): number[] {
  const out: number[] = [];
  let last = values.find(Number.isFinite) ?? 0;
  for (const v of values) {
    if (Number.isFinite(v)) last = weight * last + (1 - weight) * v;
    out.push(last);
  }
  return out;
}

function niceTicks(low: number, high: number, count: number): number[] {
  const span = high - low || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(low / step) * step; t <= high + 1e-9; t += step)
    ticks.push(Number(t.toPrecision(6)));
  return ticks;
}

/** An SVG line chart of every loss series over steps (smoothed, raw values faint behind). */
export function lossCurveSvg(records: readonly LogRecord[], title: string): string {
  const names = [...new Set(records.flatMap((r) => Object.keys(r.losses)))];
  const steps = records.map((r) => r.step);
  const series = names.map((name) => records.map((r) => r.losses[name] ?? Number.NaN));
  const finite = series.flat().filter(Number.isFinite);
  const yMax = finite.length ? Math.max(...finite) : 1;
  const yMin = Math.min(0, ...finite);
  const xMin = steps[0] ?? 0;
  const xMax = steps.length > 1 ? steps[steps.length - 1] : xMin + 1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (s: number) => MARGIN.left + ((s - xMin) / (xMax - xMin || 1)) * plotW;
  const y = (v: number) => MARGIN.top + (1 - (v - yMin) / (yMax - yMin || 1)) * plotH;
  const path = (values: readonly number[]) =>
    values
      .map((v, i) => (Number.isFinite(v) ? `${x(steps[i]).toFixed(1)},${y(v).toFixed(1)}` : ""))
      .filter(Boolean)
      .join(" ");
  const lines = series.flatMap((values, i) => {
    const colour = COLOURS[i % COLOURS.length];
    return [
      `<polyline fill="none" stroke="${colour}" stroke-opacity="0.25" stroke-width="1" points="${path(values)}"/>`,
      `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${path(smooth(values, 0.9))}"/>`,
      `<text x="${WIDTH - MARGIN.right + 12}" y="${MARGIN.top + 18 * i + 12}" fill="${colour}" font-size="13">${names[i]}</text>`,
    ];
  });
  const yTicks = niceTicks(yMin, yMax, 6).map(
    (t) =>
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>` +
      `<text x="${MARGIN.left - 8}" y="${y(t) + 4}" text-anchor="end" font-size="12">${t}</text>`,
  );
  const xTicks = niceTicks(xMin, xMax, 8).map(
    (t) =>
      `<text x="${x(t)}" y="${HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" font-size="12">${t}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...yTicks,
    ...xTicks,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle" font-size="13">step</text>`,
    ...lines,
    "</svg>",
  ].join("\n");
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c] as string,
  );
}

/** Draw the loss curves of a log to a PNG (atomically). */
export async function writeLossCurve(
  path: string,
  records: readonly LogRecord[],
  title: string,
): Promise<void> {
  const png = await sharp(Buffer.from(lossCurveSvg(records, title)))
    .png()
    .toBuffer();
  await writeFileAtomic(path, png);
}
