/**
 * The browser page in a real Chromium (Debian's `chromium`; playwright-core drives it): built with Vite, served
 * from a local folder, it loads the shipped model, segments a sample and shows readable errors. Skipped, saying
 * why, when no Chromium is installed (`apt-get install chromium`; CI installs it).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { chromium } from "playwright-core";
import { tempDir } from "../support/temp.js";
import { buildPage, CHROMIUM, servePage } from "../support/web.js";

test("the page segments a sample in Chromium and shows readable errors", {
  skip: existsSync(CHROMIUM)
    ? false
    : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set SSEG_CHROMIUM)`,
}, async (t) => {
  const out = await tempDir(t, "sseg-web-");
  buildPage(out);
  const { server, url } = await servePage(out);
  t.after(() => server.close());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  await page.goto(url);
  await page.waitForSelector("#loading", { state: "hidden", timeout: 120_000 });
  assert.equal(await page.isHidden("#error"), true, (await page.textContent("#error")) ?? "");
  assert.match((await page.textContent("#engine")) ?? "", /Backend: (webgpu|webgl|wasm|cpu)/);

  await page.fill("#classes", "dog, pig, tree");
  await page.click('button[data-sample="dingo"]');
  await page.waitForSelector("#result", { state: "visible", timeout: 120_000 });
  const rows = await page.$$eval("#legend tbody tr", (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim() ?? "")),
  );
  const classes = rows.filter((cells) => cells[1] !== "background");
  const share = (cells: string[]) => Number.parseFloat(cells[2]);
  const dominant = classes.reduce((best, cells) => (share(cells) > share(best) ? cells : best));
  assert.equal(dominant[1], "dog", JSON.stringify(rows));
  assert.match(
    (await page.textContent("#timing")) ?? "",
    /256×256 segmented in \d+ ms on (webgpu|webgl|wasm|cpu)/,
  );
  if (process.env.SSEG_SCREENSHOT)
    await page.screenshot({ path: process.env.SSEG_SCREENSHOT, fullPage: true });

  await page.fill("#classes", " , ");
  await page.click("#run");
  assert.match((await page.textContent("#error")) ?? "", /The vocabulary is empty/);
  await page.setInputFiles("#file", {
    name: "notes.png",
    mimeType: "image/png",
    buffer: Buffer.from("not an image"),
  });
  await page.waitForSelector("#error:has-text('Not an image')");
  assert.deepEqual(pageErrors, [], "no uncaught errors on the page");

  // a model that cannot be loaded: the page says so instead of staying blank
  for (const file of await readdir(join(out, "assets")))
    if (file.endsWith(".safetensors")) await rm(join(out, "assets", file));
  await page.goto(`${url}?backend=cpu`);
  await page.waitForSelector("#error:has-text('The model could not be loaded')", { timeout: 60_000 });
  assert.match((await page.textContent("#error")) ?? "", /model-.*\.safetensors: HTTP 404/);
});
