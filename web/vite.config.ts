/**
 * The browser page (`npm run web`, `npm run build:web`): the library as built in dist/ (what the npm package
 * ships), with each Node-only module swapped for its `.browser.js` twin — what the package's "browser" field tells
 * any bundler (image decoding, the tokenizer's files, the native kernel loader).
 */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** `./x.js` imported inside dist/src/ resolves to `x.browser.js` when that twin exists. */
function browserTwins(): Plugin {
  return {
    name: "sseg-browser-twins",
    enforce: "pre",
    resolveId(source, importer) {
      if (!importer || !source.startsWith(".") || !source.endsWith(".js")) return null;
      const target = resolve(dirname(importer), source);
      if (!target.startsWith(resolve(repo, "dist", "src"))) return null;
      const twin = target.replace(/\.js$/, ".browser.js");
      return existsSync(twin) ? twin : null;
    },
  };
}

export default defineConfig({
  root: resolve(repo, "web"),
  base: "./",
  plugins: [browserTwins()],
  server: { fs: { allow: [repo] } },
  build: { outDir: resolve(repo, "dist-web"), emptyOutDir: true, chunkSizeWarningLimit: 4096 },
});
