/** From a cluster label per grid cell to full-resolution class-agnostic masks. */
import { resizeNearest } from "../io/pixels.js";

export interface PseudoMasks {
  width: number;
  height: number;
  /** Cluster id per pixel (nearest upsampling of the grid labels), renumbered 0..masks.length−1 by first appearance. */
  labelMap: Uint8Array;
  /** One binary mask (0/1 per pixel) per non-empty cluster, in the order of their ids in `labelMap`. */
  masks: Uint8Array[];
}

/**
 * Upsample grid labels (gridH × gridW, values < 256) to width × height with nearest neighbour and split them into
 * binary masks; clusters that no pixel kept are dropped, so masks are never empty.
 */
export function gridLabelsToMasks(
  labels: ArrayLike<number>,
  gridW: number,
  gridH: number,
  width: number,
  height: number,
): PseudoMasks {
  if (labels.length !== gridW * gridH)
    throw new RangeError(
      `labels: expected ${gridW}×${gridH} = ${gridW * gridH} values, got ${labels.length}`,
    );
  const full = resizeNearest(Uint8Array.from(labels), gridW, gridH, width, height);
  const renumber = new Map<number, number>();
  for (let i = 0; i < full.length; i++) {
    let id = renumber.get(full[i]);
    if (id === undefined) {
      id = renumber.size;
      renumber.set(full[i], id);
    }
    full[i] = id;
  }
  const masks = Array.from({ length: renumber.size }, () => new Uint8Array(full.length));
  for (let i = 0; i < full.length; i++) masks[full[i]][i] = 1;
  return { width, height, labelMap: full, masks };
}
