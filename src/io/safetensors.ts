/**
 * safetensors parse/encode, without I/O (files: `safetensors-file.ts`) (https://github.com/huggingface/safetensors, format described in its README):
 * 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__},
 * then one contiguous byte buffer. Written by hand: the format is ~20 lines of spec and the value is in the
 * validation, which names the file and the tensor for every way a file can be wrong.
 */
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from "./float16.js";

export type SafetensorsDType = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";
export type FloatStorage = "F32" | "F16" | "BF16";

const BYTES_PER_ELEMENT: Record<SafetensorsDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Headers above this are refused before parsing (the reference implementation uses 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

export interface StoredTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** The raw little-endian bytes of this tensor (a view into the file buffer). */
  bytes: Uint8Array;
}

export interface SafetensorsFile {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array | Int32Array | Uint8Array;
  /** Storage type for Float32Array data (default F32). */
  dtype?: FloatStorage;
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** Parse and validate a safetensors buffer. `source` names the file in errors. */
export function parseSafetensors(buffer: Uint8Array, source = "<buffer>"): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };
  if (buffer.byteLength < 8)
    fail(`not a safetensors file: ${buffer.byteLength} bytes is shorter than the 8-byte header length`);
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES)
    fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  if (8 + headerLength > buffer.byteLength)
    fail(
      `truncated: header says ${headerLength} bytes but the file has only ${buffer.byteLength - 8} after it`,
    );
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(8, 8 + headerLength)),
    );
  } catch (err) {
    fail(`header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header))
    fail("header is not a JSON object");
  const data = buffer.subarray(8 + headerLength);
  const tensors = new Map<string, StoredTensor>();
  const metadata: Record<string, string> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof entry !== "object" || entry === null) fail("__metadata__ is not an object");
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__["${k}"] is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) fail(`tensor "${name}": entry is not an object`);
    const dtype = e.dtype as SafetensorsDType;
    if (typeof dtype !== "string" || !(dtype in BYTES_PER_ELEMENT))
      fail(`tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      fail(`tensor "${name}": shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
    const shape = e.shape as number[];
    const offsets = e.data_offsets as number[];
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isInteger(o) && o >= 0)
    )
      fail(`tensor "${name}": data_offsets ${JSON.stringify(e.data_offsets)} is not [begin, end]`);
    const [begin, end] = offsets;
    const expected = shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtype];
    if (end < begin) fail(`tensor "${name}": data_offsets end ${end} is before begin ${begin}`);
    if (end - begin !== expected)
      fail(
        `tensor "${name}": ${end - begin} bytes stored but ${dtype}${JSON.stringify(shape)} needs ${expected}`,
      );
    if (end > data.byteLength)
      fail(
        `truncated: tensor "${name}" ends at byte ${end} but the data section has ${data.byteLength} bytes`,
      );
    ranges.push([begin, end, name]);
    tensors.set(name, { dtype, shape, bytes: data.subarray(begin, end) });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cursor = 0;
  for (const [begin, end, name] of ranges) {
    if (begin < cursor) fail(`tensor "${name}" overlaps the tensor before it`);
    if (begin > cursor) fail(`gap in the data section before tensor "${name}" (bytes ${cursor}..${begin})`);
    cursor = end;
  }
  if (cursor !== data.byteLength)
    fail(`data section has ${data.byteLength - cursor} trailing bytes not owned by any tensor`);
  return { tensors, metadata };
}

/** The values of a stored floating-point (or integer) tensor as float32. */
export function toFloat32(t: StoredTensor): Float32Array {
  const n = t.bytes.byteLength / BYTES_PER_ELEMENT[t.dtype];
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Float32Array(n);
  switch (t.dtype) {
    case "F32":
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case "F16":
      for (let i = 0; i < n; i++) out[i] = float16BitsToFloat32(view.getUint16(2 * i, true));
      break;
    case "BF16":
      for (let i = 0; i < n; i++) out[i] = bfloat16BitsToFloat32(view.getUint16(2 * i, true));
      break;
    default: {
      const ints = toInt32(t);
      for (let i = 0; i < n; i++) out[i] = ints[i];
    }
  }
  return out;
}

/** The values of a stored integer or boolean tensor as int32; I64 values outside int32 are an error. */
export function toInt32(t: StoredTensor): Int32Array {
  const n = t.bytes.byteLength / BYTES_PER_ELEMENT[t.dtype];
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength);
  const out = new Int32Array(n);
  switch (t.dtype) {
    case "I64":
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(8 * i, true);
        if (v > 2147483647n || v < -2147483648n)
          throw new SafetensorsError(`I64 value ${v} does not fit in int32`);
        out[i] = Number(v);
      }
      break;
    case "I32":
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      break;
    case "I16":
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      break;
    case "I8":
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      break;
    case "U8":
    case "BOOL":
      for (let i = 0; i < n; i++) out[i] = view.getUint8(i);
      break;
    default:
      throw new SafetensorsError(`tensor of dtype ${t.dtype} is not an integer tensor`);
  }
  return out;
}

/** Encode tensors (in the given key order) and string metadata into safetensors bytes. */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header["__metadata__"] = metadata;
  const payloads: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length)
      throw new SafetensorsError(
        `tensor "${name}": shape [${t.shape}] has ${numel} elements but data has ${t.data.length}`,
      );
    const { dtype, bytes } = encodeData(t);
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    payloads.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data section to 8 bytes
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.byteLength;
  for (const p of payloads) {
    out.set(p, cursor);
    cursor += p.byteLength;
  }
  return out;
}

function encodeData(t: TensorToWrite): { dtype: SafetensorsDType; bytes: Uint8Array } {
  if (t.data instanceof Uint8Array) return { dtype: "U8", bytes: t.data };
  const n = t.data.length;
  if (t.data instanceof Int32Array) {
    const bytes = new Uint8Array(4 * n);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < n; i++) view.setInt32(4 * i, t.data[i], true);
    return { dtype: "I32", bytes };
  }
  const dtype = t.dtype ?? "F32";
  const width = dtype === "F32" ? 4 : 2;
  const bytes = new Uint8Array(width * n);
  const view = new DataView(bytes.buffer);
  const src = t.data;
  if (dtype === "F32") for (let i = 0; i < n; i++) view.setFloat32(4 * i, src[i], true);
  else if (dtype === "F16")
    for (let i = 0; i < n; i++) view.setUint16(2 * i, float32ToFloat16Bits(src[i]), true);
  else for (let i = 0; i < n; i++) view.setUint16(2 * i, float32ToBfloat16Bits(src[i]), true);
  return { dtype, bytes };
}
