/** The native kernel pack in the browser (the twin of `native.ts`): there is none; tfjs's backends run. */
import type { NativeLoad } from "./native.js";

export function loadNativePack(): NativeLoad {
  return { pack: null, reason: "not running in Node" };
}
