/** Flag values checked once, with errors that name the flag and the value given. */
import { readFile } from "node:fs/promises";
import type { MasksRule } from "../model/sseg.js";

/** A bad flag or flag combination: the CLI prints it as one line and exits 2 (a usage error), not 1. */
export class UsageError extends Error {
  override name = "UsageError";
}

export function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag}: expected a positive integer, got "${value}"`);
  return n;
}

export function positiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag}: expected a positive number, got "${value}"`);
  return n;
}

export function numberInRange(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === "" || !(n >= min && n <= max))
    throw new UsageError(`${flag}: expected a number from ${min} to ${max}, got "${value}"`);
  return n;
}

export function nonNegativeInteger(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0)
    throw new UsageError(`${flag}: expected an integer ≥ 0, got "${value}"`);
  return n;
}

/** `--masks`: how each pixel's scores come from the queries (`InferenceConfig.masks`). */
export function masksRule(value: string): MasksRule {
  if (value !== "mix" && value !== "winner")
    throw new UsageError(`--masks: expected mix or winner, got "${value}"`);
  return value;
}

/**
 * `--config`: a preset's name as given, or from a `.json` file a model configuration (a preset's fields, e.g. one
 * switch changed), checked by `check`.
 */
export async function configFlag<T>(
  path: string,
  check: (value: unknown, where: string) => T,
): Promise<string | T> {
  if (!path.endsWith(".json")) return path;
  const text = await readFile(path, "utf8").catch((err: Error) => {
    throw new Error(`--config ${path}: ${err.message}`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`--config ${path}: not JSON (${(err as Error).message})`);
  }
  return check(value, `--config ${path}`);
}
