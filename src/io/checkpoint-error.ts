/** A checkpoint, model or weights file that cannot be found, read or understood; the message starts with the path. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}
