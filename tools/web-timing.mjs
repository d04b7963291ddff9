#!/usr/bin/env node
/**
 * Time the browser page on a 448² image per backend in Debian's Chromium (headless): the first segmentation (with
 * the backend's warm-up: shader compilation) and the median of the next three. Needs `npm run build` first.
 *
 *   node tools/web-timing.mjs [--backends webgl,cpu] [--image samples/dune.jpg]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import sharp from "sharp";
import { buildPage, CHROMIUM, servePage } from "../dist/test/support/web.js";

const { values } = parseArgs({
  options: {
    backends: { type: "string", default: "webgl,cpu" },
    image: { type: "string", default: "samples/dune.jpg" },
  },
});
const square = await sharp(values.image).resize(448, 448, { fit: "cover" }).jpeg().toBuffer();
const out = await mkdtemp(join(tmpdir(), "sseg-web-timing-"));
buildPage(out);
const { server, url } = await servePage(out);
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
const timings = [];
try {
  for (const backend of values.backends.split(",")) {
    const page = await browser.newPage();
    await page.goto(`${url}?backend=${backend}`);
    await page.waitForSelector("#loading", { state: "hidden", timeout: 300_000 });
    const ran = (await page.textContent("#engine")) ?? "";
    if (await page.isVisible("#error")) {
      const reason = (await page.textContent("#error")) ?? "";
      timings.push({ backend, unavailable: reason });
      console.log(`${backend}: unavailable here (${reason})`);
      await page.close();
      continue;
    }
    const runs = [];
    for (let i = 0; i < 4; i++) {
      await page.evaluate(() => document.getElementById("result")?.setAttribute("hidden", ""));
      if (i === 0)
        await page.setInputFiles("#file", { name: "photo.jpg", mimeType: "image/jpeg", buffer: square });
      else await page.click("#run");
      await page.waitForSelector("#result", { state: "visible", timeout: 300_000 });
      const text = (await page.textContent("#timing")) ?? "";
      runs.push(Number(/in (\d+) ms/.exec(text)?.[1]));
    }
    const warm = runs.slice(1).sort((a, b) => a - b)[1];
    timings.push({ backend, ran, first: runs[0], warmMedian: warm });
    console.log(`${backend}: first ${runs[0]} ms, then median ${warm} ms (${ran})`);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
  await rm(out, { recursive: true, force: true });
}
console.log(JSON.stringify(timings));
