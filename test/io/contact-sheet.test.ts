import assert from "node:assert/strict";
import { test } from "node:test";
import { contactTile, renderContactSheet } from "../../src/io/contact-sheet.js";
import type { RgbImage } from "../../src/io/pixels.js";

function solid(width: number, height: number, rgb: [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(rgb, 3 * p);
  return { width, height, data };
}

const pixel = (img: RgbImage, x: number, y: number) =>
  Array.from(img.data.subarray(3 * (y * img.width + x), 3 * (y * img.width + x) + 3));

test("a contact tile is shrunk to the tile width, keeping its aspect; a small picture is kept as it is", async () => {
  const tile = await contactTile(solid(640, 400, [200, 10, 10]), 320);
  assert.deepEqual([tile.width, tile.height], [320, 200]);
  assert.deepEqual(pixel(tile, 160, 100), [200, 10, 10]);
  const small = solid(100, 50, [1, 2, 3]);
  assert.equal(await contactTile(small, 320), small);
});

test("a contact sheet lays tiles out in rows of `columns`, each under its title, on white", async () => {
  const red = solid(640, 400, [220, 0, 0]);
  const blue = solid(100, 300, [0, 0, 220]);
  const green = solid(320, 100, [0, 200, 0]);
  const sheet = await renderContactSheet(
    [
      { title: "red.jpg", image: red },
      { title: "blue.jpg", image: blue },
      { title: "green.jpg", image: green },
    ],
    { columns: 2, tileWidth: 320 },
  );
  assert.equal(sheet.width, 10 + 2 * (320 + 10), "two cells as wide as the widest tile, with gaps");
  assert.equal(sheet.data.length, sheet.width * sheet.height * 3);
  assert.deepEqual(pixel(sheet, 0, 0), [255, 255, 255]);
  // the second row starts below the taller tile of the first row (blue: 300 px plus its title)
  assert.ok(sheet.height > 10 + 300 + 10 + 100, `height ${sheet.height}`);
  const column = (x: number) => Array.from({ length: sheet.height }, (_, y) => pixel(sheet, x, y).join());
  assert.ok(column(10 + 160).includes("220,0,0"), "the red tile in the first column");
  assert.ok(column(10 + 160).includes("0,200,0"), "the green tile below it");
  assert.ok(column(10 + 330 + 50).includes("0,0,220"), "the blue tile in the second column");
  await assert.rejects(renderContactSheet([]), /no tiles/);
});
