/**
 * PyTorch checkpoints as written by torch.save since 1.6: a zip archive holding `<archive>/data.pkl`, the pickled
 * object whose tensors point at storages by persistent id, and one `<archive>/data/<key>` blob of raw
 * little-endian elements per storage (torch/serialization.py `_save`, `_load`). The zip directory is parsed here
 * (PKWARE APPNOTE.TXT 4.3.7–4.3.16, ZIP64 in 4.3.14–4.3.15 and 4.5.3): torch writes entries stored, but deflated
 * ones inflate with zlib. Entries are read on demand, so a full training checkpoint costs only the storages of
 * the state dict taken from it, and every entry's CRC-32 is checked.
 *
 * The pickle goes through the restricted unpickler with an allow list: tensor and parameter rebuilders, typed
 * storages, OrderedDict, and argparse.Namespace as an inert record (DINO's full checkpoints carry their training
 * arguments; nothing is called to build it). Everything else is refused, like torch.load(weights_only=True).
 */
import { type FileHandle, open } from "node:fs/promises";
import { inflateRawSync } from "node:zlib";
import { CheckpointError } from "../io/checkpoint-error.js";
import type { SafetensorsDType, StoredTensor } from "../io/safetensors.js";
import { describe, type PickleCallable, PickleObject, unpickle } from "./pickle.js";

// ---------------------------------------------------------------------------------------------------------------
// Zip archive

interface ZipEntry {
  name: string;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIGNATURE = {
  localHeader: 0x04034b50,
  centralHeader: 0x02014b50,
  end: 0x06054b50,
  zip64End: 0x06064b50,
  zip64Locator: 0x07064b50,
};
const END_RECORD_BYTES = 22;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_END_RECORD_BYTES = 56;
const CENTRAL_HEADER_BYTES = 46;
const LOCAL_HEADER_BYTES = 30;
const MAX_COMMENT_BYTES = 0xffff;
const ZIP64_EXTRA_ID = 0x0001;
/** A 32-bit size or offset with this value is stored in the ZIP64 extra field instead. */
const IN_ZIP64_EXTRA = 0xffffffff;
const STORED = 0;
const DEFLATED = 8;
/** Deflate encodes at most 1032 output bytes per input byte (zlib technical details): larger claims are forged. */
const MAX_DEFLATE_RATIO = 1032;
/** An expanded view (stride 0) copies out more elements than its storage holds; state dicts expand tiny buffers. */
const MAX_EXPANDED_ELEMENTS = 2 ** 24;
/** File reads are chunked: one read call cannot move more than 2 GiB. */
const MAX_READ_BYTES = 1 << 30;

const latin1 = new TextDecoder("latin1");

class ZipArchive {
  private constructor(
    private readonly file: FileHandle,
    private readonly fileSize: number,
    readonly path: string,
    readonly entries: Map<string, ZipEntry>,
  ) {}

  /** Read the central directory of the open `file`; the caller closes the file if this throws. */
  static async read(file: FileHandle, fileSize: number, path: string): Promise<ZipArchive> {
    const fail = (message: string): never => {
      throw new CheckpointError(`${path}: ${message}`);
    };
    const tailBytes = Math.min(fileSize, ZIP64_LOCATOR_BYTES + END_RECORD_BYTES + MAX_COMMENT_BYTES);
    const tail = view(await readAt(file, fileSize, fileSize - tailBytes, tailBytes, path));
    let end = tail.byteLength - END_RECORD_BYTES;
    while (end >= 0 && tail.getUint32(end, true) !== SIGNATURE.end) end--;
    if (end < 0)
      fail("truncated or not a zip archive: no end-of-central-directory record (incomplete download?)");
    let count = tail.getUint16(end + 10, true);
    let directoryBytes = tail.getUint32(end + 12, true);
    let directoryOffset = tail.getUint32(end + 16, true);
    const locator = end - ZIP64_LOCATOR_BYTES;
    if (locator >= 0 && tail.getUint32(locator, true) === SIGNATURE.zip64Locator) {
      const recordOffset = uint64(tail, locator + 8, fail);
      const record = view(await readAt(file, fileSize, recordOffset, ZIP64_END_RECORD_BYTES, path));
      if (record.getUint32(0, true) !== SIGNATURE.zip64End)
        fail("corrupt ZIP64 end-of-central-directory record");
      count = uint64(record, 32, fail);
      directoryBytes = uint64(record, 40, fail);
      directoryOffset = uint64(record, 48, fail);
    }
    const directory = view(await readAt(file, fileSize, directoryOffset, directoryBytes, path));
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (
        p + CENTRAL_HEADER_BYTES > directory.byteLength ||
        directory.getUint32(p, true) !== SIGNATURE.centralHeader
      )
        fail(`corrupt central directory: entry ${i} of ${count} not found`);
      const nameBytes = directory.getUint16(p + 28, true);
      const extraBytes = directory.getUint16(p + 30, true);
      const commentBytes = directory.getUint16(p + 32, true);
      const nameStart = p + CENTRAL_HEADER_BYTES;
      const next = nameStart + nameBytes + extraBytes + commentBytes;
      if (next > directory.byteLength) fail(`corrupt central directory: entry ${i} overruns it`);
      const entry: ZipEntry = {
        name: latin1.decode(new Uint8Array(directory.buffer, directory.byteOffset + nameStart, nameBytes)),
        flags: directory.getUint16(p + 8, true),
        method: directory.getUint16(p + 10, true),
        crc32: directory.getUint32(p + 16, true),
        compressedSize: directory.getUint32(p + 20, true),
        size: directory.getUint32(p + 24, true),
        localHeaderOffset: directory.getUint32(p + 42, true),
      };
      readZip64Extra(directory, nameStart + nameBytes, extraBytes, entry, fail);
      entries.set(entry.name, entry);
      p = next;
    }
    return new ZipArchive(file, fileSize, path, entries);
  }

  /** The uncompressed bytes of entry `name`, CRC-checked; inflated to at most the size its directory entry gives. */
  async entry(name: string): Promise<Uint8Array> {
    const fail = (message: string): never => {
      throw new CheckpointError(`${this.path}: entry ${name}: ${message}`);
    };
    const entry = this.entries.get(name) ?? fail("missing from the zip archive");
    if (entry.flags & 1) fail("encrypted entries are not supported");
    const header = view(
      await readAt(this.file, this.fileSize, entry.localHeaderOffset, LOCAL_HEADER_BYTES, this.path),
    );
    if (header.getUint32(0, true) !== SIGNATURE.localHeader) fail("corrupt: no local header at its offset");
    const dataStart =
      entry.localHeaderOffset + LOCAL_HEADER_BYTES + header.getUint16(26, true) + header.getUint16(28, true);
    if (entry.method === DEFLATED && entry.size > entry.compressedSize * MAX_DEFLATE_RATIO + 1024)
      fail(
        `claims ${entry.size} bytes from ${entry.compressedSize} compressed, beyond what deflate can encode`,
      );
    const raw = await readAt(this.file, this.fileSize, dataStart, entry.compressedSize, this.path);
    let data = raw;
    if (entry.method === DEFLATED) {
      try {
        // never more than the directory's size: a zip bomb stops here instead of filling memory
        const inflated = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
        data = new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
      } catch (err) {
        fail(`corrupt deflate data (${(err as Error).message})`);
      }
    } else if (entry.method !== STORED) fail(`unsupported compression method ${entry.method}`);
    if (data.byteLength !== entry.size) fail(`${data.byteLength} bytes but the directory says ${entry.size}`);
    if (crc32(data) !== entry.crc32) fail("CRC-32 mismatch: the file is corrupt");
    return data;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/** Replace 32-bit fields saturated at 0xFFFFFFFF by their 64-bit values, in APPNOTE's order. */
function readZip64Extra(
  directory: DataView,
  start: number,
  length: number,
  entry: ZipEntry,
  fail: (message: string) => never,
): void {
  for (let p = start; p + 4 <= start + length; ) {
    const id = directory.getUint16(p, true);
    const end = p + 4 + directory.getUint16(p + 2, true);
    if (end > start + length) fail(`entry ${entry.name}: extra field overruns its header`);
    if (id === ZIP64_EXTRA_ID) {
      let field = p + 4;
      for (const key of ["size", "compressedSize", "localHeaderOffset"] as const) {
        if (entry[key] !== IN_ZIP64_EXTRA) continue;
        if (field + 8 > end) fail(`entry ${entry.name}: ZIP64 extra field lacks its ${key}`);
        entry[key] = uint64(directory, field, fail);
        field += 8;
      }
    }
    p = end;
  }
}

async function readAt(
  file: FileHandle,
  fileSize: number,
  position: number,
  length: number,
  path: string,
): Promise<Uint8Array> {
  if (position + length > fileSize)
    throw new CheckpointError(
      `${path}: truncated: needs bytes ${position}..${position + length} but the file has ${fileSize}`,
    );
  const bytes = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const { bytesRead } = await file.read(
      bytes,
      done,
      Math.min(length - done, MAX_READ_BYTES),
      position + done,
    );
    if (bytesRead === 0) throw new CheckpointError(`${path}: file shrank while being read`);
    done += bytesRead;
  }
  return bytes;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function uint64(data: DataView, offset: number, fail: (message: string) => never): number {
  const value = data.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`corrupt zip: size or offset ${value} is out of range`);
  return Number(value);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32 as in zip and zlib (zlib.crc32 itself needs Node ≥ 20.15). */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors and the pickle's allow list

/** A typed storage class named in the pickle (torch.FloatStorage …): the element type of its blob. */
class StorageType {
  constructor(
    readonly dtype: SafetensorsDType,
    readonly itemBytes: number,
  ) {}
}

const STORAGE_TYPES = new Map<string, StorageType>([
  ["FloatStorage", new StorageType("F32", 4)],
  ["HalfStorage", new StorageType("F16", 2)],
  ["BFloat16Storage", new StorageType("BF16", 2)],
  ["DoubleStorage", new StorageType("F64", 8)],
  ["LongStorage", new StorageType("I64", 8)],
  ["IntStorage", new StorageType("I32", 4)],
  ["ShortStorage", new StorageType("I16", 2)],
  ["CharStorage", new StorageType("I8", 1)],
  ["ByteStorage", new StorageType("U8", 1)],
  ["BoolStorage", new StorageType("BOOL", 1)],
]);

/** A storage referenced by persistent id ('storage', type, key, location, numel); its bytes are data/<key>. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly type: StorageType,
    readonly numel: number,
  ) {}
}

/** A tensor as pickled: a view (offset, shape, stride in elements) into a storage that is read on demand. */
export class TorchTensor {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}

  get dtype(): SafetensorsDType {
    return this.storage.type.dtype;
  }
}

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isCountList = (x: unknown): x is number[] => Array.isArray(x) && x.every(isCount);

/** The globals a checkpoint may name, as the unpickler's resolver; `fail` names the file. */
function torchGlobals(fail: (message: string) => never) {
  const rebuildTensor: PickleCallable = ([storage, offset, shape, stride]) => {
    if (
      !(storage instanceof StorageRef) ||
      !isCount(offset) ||
      !isCountList(shape) ||
      !isCountList(stride) ||
      shape.length !== stride.length
    )
      return fail("_rebuild_tensor_v2 called with arguments that are not (storage, offset, size, stride)");
    return new TorchTensor(storage, offset, shape, stride);
  };
  // Parameters are tensors with requires_grad; their hooks and Python attributes carry no weights.
  const rebuildParameter: PickleCallable = ([data]) =>
    data instanceof TorchTensor ? data : fail(`_rebuild_parameter of ${describe(data)}`);
  const callables = new Map<string, PickleCallable>([
    ["torch._utils._rebuild_tensor_v2", rebuildTensor],
    ["torch._utils._rebuild_parameter", rebuildParameter],
    ["torch._utils._rebuild_parameter_with_state", rebuildParameter],
    ["collections.OrderedDict", () => new Map()],
    ["argparse.Namespace", () => new PickleObject("argparse.Namespace")],
  ]);
  return (module: string, name: string): unknown =>
    module === "torch" ? STORAGE_TYPES.get(name) : callables.get(`${module}.${name}`);
}

/** Persistent ids of the zip format: one StorageRef per storage key, shared by every view into it. */
function storageLoader(fail: (message: string) => never) {
  const storages = new Map<string, StorageRef>();
  return (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== "storage")
      return fail(
        `unsupported persistent id ${describe(pid)} (expected ('storage', type, key, location, numel))`,
      );
    const [, type, key, , numel] = pid;
    if (!(type instanceof StorageType) || typeof key !== "string" || !isCount(numel))
      return fail(`malformed storage id (${describe(type)}, ${describe(key)}, ${describe(numel)})`);
    const known = storages.get(key);
    if (known) return known;
    const storage = new StorageRef(key, type, numel);
    storages.set(key, storage);
    return storage;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoints

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const PICKLE_PROTO = 0x80;

/** An open torch.save checkpoint: the unpickled object (`root`), with tensors read on demand. */
export class TorchCheckpoint {
  private readonly storageBytes = new Map<string, Promise<Uint8Array>>();

  private constructor(
    private readonly zip: ZipArchive,
    private readonly archive: string,
    readonly root: unknown,
  ) {}

  static async open(path: string): Promise<TorchCheckpoint> {
    const fail = (message: string): never => {
      throw new CheckpointError(`${path}: ${message}`);
    };
    let file: FileHandle;
    try {
      file = await open(path, "r");
    } catch (err) {
      return fail(`cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    try {
      const { size } = await file.stat();
      const head = await readAt(file, size, 0, Math.min(size, ZIP_MAGIC.length), path);
      if (!ZIP_MAGIC.every((b, i) => head[i] === b))
        fail(
          head[0] === PICKLE_PROTO
            ? "legacy torch.save format not supported; re-save with torch >= 1.6"
            : "not a PyTorch checkpoint: it does not start with a zip header",
        );
      const zip = await ZipArchive.read(file, size, path);
      const pickles = [...zip.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
      if (pickles.length !== 1)
        fail(
          `not a torch.save archive: expected one <archive>/data.pkl, found ${pickles.length} among ` +
            [...zip.entries.keys()].slice(0, 8).join(", "),
        );
      const archive = pickles[0].slice(0, -"data.pkl".length);
      if (zip.entries.has(`${archive}byteorder`)) {
        const order = latin1.decode(await zip.entry(`${archive}byteorder`));
        if (order !== "little") fail(`saved with byte order "${order}"; only little-endian is supported`);
      }
      const root = unpickle(await zip.entry(pickles[0]), {
        source: `${path} (${pickles[0]})`,
        resolveGlobal: torchGlobals(fail),
        persistentLoad: storageLoader(fail),
      });
      return new TorchCheckpoint(zip, archive, root);
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  /** The tensor's elements, contiguous in row-major order (strided views are copied out). */
  async readTensor(name: string, tensor: TorchTensor): Promise<StoredTensor> {
    const { storage, storageOffset, shape, stride } = tensor;
    const numel = shape.reduce((a, b) => a * b, 1);
    if (numel > storage.numel && numel > MAX_EXPANDED_ELEMENTS)
      throw new CheckpointError(
        `${this.zip.path}: tensor "${name}" (shape [${shape}], stride [${stride}]) expands a storage of ` +
          `${storage.numel} elements to ${numel}; refused above ${MAX_EXPANDED_ELEMENTS} (a forged view)`,
      );
    const last = storageOffset + shape.reduce((sum, size, d) => sum + (size - 1) * stride[d], 0);
    if (numel > 0 && last >= storage.numel)
      throw new CheckpointError(
        `${this.zip.path}: tensor "${name}" (shape [${shape}], stride [${stride}], offset ${storageOffset}) ` +
          `reaches element ${last} of a storage of ${storage.numel}`,
      );
    const blob = await this.storage(storage);
    return { dtype: storage.type.dtype, shape: [...shape], bytes: rowMajorBytes(blob, tensor, numel) };
  }

  close(): Promise<void> {
    return this.zip.close();
  }

  private storage(storage: StorageRef): Promise<Uint8Array> {
    let bytes = this.storageBytes.get(storage.key);
    if (!bytes) {
      const name = `${this.archive}data/${storage.key}`;
      bytes = this.zip.entry(name).then((blob) => {
        const expected = storage.numel * storage.type.itemBytes;
        if (blob.byteLength !== expected)
          throw new CheckpointError(
            `${this.zip.path}: entry ${name}: ${blob.byteLength} bytes but ${storage.numel} ` +
              `${storage.type.dtype} elements need ${expected}`,
          );
        return blob;
      });
      this.storageBytes.set(storage.key, bytes);
    }
    return bytes;
  }
}

/** Copy a strided view out of its storage in row-major order; contiguous views are returned without copying. */
function rowMajorBytes(blob: Uint8Array, tensor: TorchTensor, numel: number): Uint8Array {
  const { itemBytes } = tensor.storage.type;
  const { shape } = tensor;
  const start = tensor.storageOffset * itemBytes;
  if (isRowMajor(shape, tensor.stride)) return blob.subarray(start, start + numel * itemBytes);
  const strideBytes = tensor.stride.map((s) => s * itemBytes);
  const index = shape.map(() => 0);
  const out = new Uint8Array(numel * itemBytes);
  let src = start;
  for (let dst = 0; dst < out.length; dst += itemBytes) {
    for (let b = 0; b < itemBytes; b++) out[dst + b] = blob[src + b];
    for (let d = shape.length - 1; d >= 0; d--) {
      // odometer: step the last dimension, carrying into earlier ones
      src += strideBytes[d];
      if (++index[d] < shape[d]) break;
      src -= strideBytes[d] * shape[d];
      index[d] = 0;
    }
  }
  return out;
}

function isRowMajor(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d];
  }
  return true;
}

/** Where training checkpoints keep their state dict, in order of preference (DINO evaluates its teacher). */
const STATE_DICT_KEYS = ["state_dict", "model", "teacher", "student"];

/**
 * The state dict inside an unpickled checkpoint: the object itself if it maps names to tensors, else the first
 * of STATE_DICT_KEYS it has, recursively (DINO's full checkpoints: {teacher, student, optimizer, args, …}).
 */
export function findStateDict(root: unknown, source: string): Map<string, TorchTensor> {
  let node = root;
  let where = "the checkpoint";
  for (;;) {
    if (!(node instanceof Map))
      throw new CheckpointError(`${source}: ${where} is ${describe(node)}, not a dict of tensors`);
    const dict: Map<unknown, unknown> = node;
    if (dict.size > 0 && [...dict].every(([k, v]) => typeof k === "string" && v instanceof TorchTensor))
      return dict as Map<string, TorchTensor>;
    const key = STATE_DICT_KEYS.find((k) => dict.has(k));
    if (key === undefined)
      throw new CheckpointError(
        `${source}: no state dict found: ${where} has keys ${[...dict.keys()].slice(0, 10).map(describe).join(", ")}` +
          ` but is not a dict of tensors and has none of ${STATE_DICT_KEYS.join(", ")}`,
      );
    node = dict.get(key);
    where = `${where}["${key}"]`;
  }
}

/** Open a torch.save checkpoint and read every tensor of its state dict (see findStateDict). */
export async function readTorchStateDict(path: string): Promise<Map<string, StoredTensor>> {
  const checkpoint = await TorchCheckpoint.open(path);
  try {
    const tensors = new Map<string, StoredTensor>();
    for (const [name, tensor] of findStateDict(checkpoint.root, path))
      tensors.set(name, await checkpoint.readTensor(name, tensor));
    return tensors;
  } finally {
    await checkpoint.close();
  }
}
