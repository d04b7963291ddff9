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

interface Series {
  name: string;
  values: number[];
}

/** Extremes of a long list without spreading it into Math.max's arguments (which overflows the stack). */
function extent(values: readonly number[]): [number, number] {
  let [low, high] = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const v of values) if (Number.isFinite(v)) [low, high] = [Math.min(low, v), Math.max(high, v)];
  return Number.isFinite(low) ? [low, high] : [0, 1];
}

/** One line chart at vertical offset `top`: each series smoothed (`smoothing` > 0) with its raw values faint behind. */
function lineChart(
  steps: readonly number[],
  series: readonly Series[],
  top: number,
  yLabel: string,
  smoothing: number,
): string[] {
  const [low, high] = extent(series.flatMap((s) => s.values));
  const [yMin, yMax] = [Math.min(0, low), high];
  const [xMin, xMax] = steps.length > 0 ? extent(steps) : [0, 1];
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (s: number) => MARGIN.left + ((s - xMin) / (xMax - xMin || 1)) * plotW;
  const y = (v: number) => top + MARGIN.top + (1 - (v - yMin) / (yMax - yMin || 1)) * plotH;
  const path = (values: readonly number[]) =>
    values
      .map((v, i) => (Number.isFinite(v) ? `${x(steps[i]).toFixed(1)},${y(v).toFixed(1)}` : ""))
      .filter(Boolean)
      .join(" ");
  const lines = series.flatMap(({ name, values }, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const smoothed = smoothing > 0 ? smooth(values, smoothing) : values;
    return [
      ...(smoothing > 0
        ? [
            `<polyline fill="none" stroke="${colour}" stroke-opacity="0.25" stroke-width="1" points="${path(values)}"/>`,
          ]
        : []),
      `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${path(smoothed)}"/>`,
      `<text x="${WIDTH - MARGIN.right + 12}" y="${top + MARGIN.top + 18 * i + 12}" fill="${colour}" font-size="13">${escapeXml(name)}</text>`,
    ];
  });
  const yTicks = niceTicks(yMin, yMax, 6).map(
    (t) =>
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>` +
      `<text x="${MARGIN.left - 8}" y="${y(t) + 4}" text-anchor="end" font-size="12">${t}</text>`,
  );
  const xTicks = niceTicks(xMin, xMax, 8).map(
    (t) =>
      `<text x="${x(t)}" y="${top + HEIGHT - MARGIN.bottom + 18}" text-anchor="middle" font-size="12">${t}</text>`,
  );
  return [
    ...yTicks,
    ...xTicks,
    `<rect x="${MARGIN.left}" y="${top + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${top + HEIGHT - 10}" text-anchor="middle" font-size="13">step</text>`,
    `<text x="18" y="${top + MARGIN.top + plotH / 2}" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${top + MARGIN.top + plotH / 2})">${yLabel}</text>`,
    ...lines,
  ];
}

const VALIDATION_SERIES: [key: string, name: string][] = [
  ["miouWithBackground", "val mIoU"],
  ["miouWithoutBackground", "val mIoU w/o bg"],
  ["maskOracleWithBackground", "mask oracle"],
];

/**
 * An SVG of the training curves: every loss series over steps; below it, when the log holds validations, their
 * mIoU (percent) over steps.
 */
export function lossCurveSvg(records: readonly LogRecord[], title: string): string {
  const names = [...new Set(records.flatMap((r) => Object.keys(r.losses)))];
  const losses = names.map((name) => ({ name, values: records.map((r) => r.losses[name] ?? Number.NaN) }));
  const validated = records.filter((r) => r.val);
  const validation = VALIDATION_SERIES.map(([key, name]) => ({
    name,
    values: validated.map((r) => 100 * ((r.val as Record<string, number>)[key] ?? Number.NaN)),
  })).filter((s) => s.values.some(Number.isFinite));
  const panels = validation.length > 0 ? 2 : 1;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT * panels}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    ...lineChart(
      records.map((r) => r.step),
      losses,
      0,
      "loss",
      0.9,
    ),
    ...(panels === 2
      ? lineChart(
          validated.map((r) => r.step),
          validation,
          HEIGHT,
          "validation (%)",
          0,
        )
      : []),
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
