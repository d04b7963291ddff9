/** The browser page built and served for Chromium: used by test/web/page.test.ts and tools/web-timing.mjs. */
import { spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize } from "node:path";

export const REPO = new URL("../../../", import.meta.url).pathname;
/** Debian's Chromium, or the one SSEG_CHROMIUM names. */
export const CHROMIUM = process.env.SSEG_CHROMIUM ?? "/usr/bin/chromium";

const TYPES: Record<string, string> = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
  ".jpg": "image/jpeg",
  ".png": "image/png",
  ".wasm": "application/wasm",
};

/** `vite build web` into `out`; throws with Vite's output when it fails. */
export function buildPage(out: string): void {
  const vite = join(REPO, "node_modules/vite/bin/vite.js");
  const build = spawnSync(process.execPath, [vite, "build", "web", "--outDir", out], {
    cwd: REPO,
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
}

/** A static file server for a built page on a free local port. */
export function servePage(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer(async (request, response) => {
    const path = normalize(join(root, decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname)));
    const file = path.endsWith("/") ? join(path, "index.html") : path;
    try {
      if (!file.startsWith(root)) throw new Error("outside the page's folder");
      const body = await readFile(file);
      response.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "content-length": body.length,
      });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }),
    ),
  );
}
