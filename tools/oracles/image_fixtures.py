"""Reference data for src/io/: small images in every supported format, decoded with PIL, plus OpenCV resize
outputs, mmseg rescale sizes, label PNGs and the VOC colour map.

PIL's Image.convert("RGB") gives the expected pixels of the lossless formats; OpenCV (what mmcv's imresize
calls) gives the resize references. Needs Debian's python3-pil and python3-opencv, so run with:

    /usr/bin/python3 tools/oracles/image_fixtures.py      # rewrites test/fixtures/images/
"""
import io
import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "images"
rng = np.random.default_rng(20240611)


def write_json(name: str, value) -> None:
    (OUT / name).write_text(json.dumps(value, separators=(",", ":")) + "\n")


def flat(array: np.ndarray) -> list[int]:
    return [int(v) for v in array.reshape(-1)]


def smooth_rgb(width: int, height: int) -> np.ndarray:
    """Gradients plus noise: photo-like enough to exercise filters, every channel different."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / max(width - 1, 1), y * 255 / max(height - 1, 1), (x + y) * 8 % 256], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def pil_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


# --- decoding -------------------------------------------------------------------------------------------


def lossless_images() -> list[dict]:
    """One small image per PNG/WebP/GIF flavour; expected pixels are PIL's convert("RGB") of the file."""
    w, h = 13, 9
    rgb = smooth_rgb(w, h)
    grey = rgb[:, :, 0]
    alpha = rng.integers(0, 256, (h, w), dtype=np.uint8)
    palette_img = Image.fromarray(rgb).quantize(colors=40, method=Image.Quantize.MEDIANCUT)
    Image.fromarray(grey, "L").save(OUT / "grey.png")
    Image.fromarray(np.stack([grey, alpha], -1), "LA").save(OUT / "grey_alpha.png")
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(OUT / "rgba.png")
    palette_img.save(OUT / "palette.png")
    Image.fromarray(rgb).save(OUT / "lossless.webp", lossless=True)
    second_frame = Image.fromarray(255 - rgb).quantize(colors=40)
    palette_img.save(OUT / "animated.gif", save_all=True, append_images=[second_frame], duration=100, loop=0)
    rgb16 = rgb.astype(np.uint16) * 256 + rng.integers(0, 256, rgb.shape).astype(np.uint16)  # high byte = rgb
    cv2.imwrite(str(OUT / "rgb16.png"), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    files = ["grey.png", "grey_alpha.png", "rgba.png", "palette.png", "lossless.webp", "animated.gif", "rgb16.png"]
    cases = [{"file": f, "width": w, "height": h, "rgb": flat(pil_rgb(OUT / f))} for f in files]

    # PIL clips 16-bit grey to 255 instead of scaling, so the reference keeps the high byte like cv2/libvips.
    grey16 = grey.astype(np.uint16) * 256 + rng.integers(0, 256, grey.shape).astype(np.uint16)
    cv2.imwrite(str(OUT / "grey16.png"), grey16)
    high_byte = (cv2.imread(str(OUT / "grey16.png"), cv2.IMREAD_UNCHANGED) >> 8).astype(np.uint8)
    cases.append({"file": "grey16.png", "width": w, "height": h, "rgb": flat(np.dstack([high_byte] * 3))})
    return cases


def oriented_jpeg() -> dict:
    """Stored landscape with EXIF orientation 6 (display rotated 90° clockwise), four coloured quadrants."""
    stored_w, stored_h = 48, 32
    img = np.zeros((stored_h, stored_w, 3), np.uint8)
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (240, 240, 240)]
    for i, colour in enumerate(colours):
        y0, x0 = (i // 2) * stored_h // 2, (i % 2) * stored_w // 2
        img[y0 : y0 + stored_h // 2, x0 : x0 + stored_w // 2] = colour
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(OUT / "exif_orientation6.jpg", quality=95, exif=exif.tobytes())
    with Image.open(OUT / "exif_orientation6.jpg") as stored:
        upright = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    h, w = upright.shape[:2]
    quadrant_centres = [(w // 4, h // 4), (3 * w // 4, h // 4), (w // 4, 3 * h // 4), (3 * w // 4, 3 * h // 4)]
    return {
        "file": "exif_orientation6.jpg",
        "storedWidth": stored_w,
        "storedHeight": stored_h,
        "width": w,
        "height": h,
        "samples": [{"x": x, "y": y, "rgb": flat(upright[y, x])} for x, y in quadrant_centres],
    }


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bad_inputs() -> None:
    """Files that must be refused with a clear message."""
    jpeg = io.BytesIO()
    Image.fromarray(smooth_rgb(64, 48)).save(jpeg, "JPEG", quality=90)
    (OUT / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (OUT / "empty.png").write_bytes(b"")
    (OUT / "not_an_image.png").write_bytes(b"This is a text file, not a PNG.\n")
    # A valid header claiming 20000x20000 pixels over a tiny stream: only the size check may look at it.
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    huge = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    (OUT / "huge_header.png").write_bytes(huge)


# --- resizing -------------------------------------------------------------------------------------------

# (source w, h) → (target w, h): up, down, non-integer ratios, exact 2x both ways, mixed, 1-pixel sides.
RESIZE_SIZES = [
    ((13, 9), (31, 20)),
    ((40, 30), (17, 11)),
    ((40, 30), (20, 15)),
    ((20, 15), (40, 30)),
    ((40, 30), (13, 10)),
    ((30, 40), (10, 10)),
    ((40, 30), (7, 29)),
    ((9, 13), (27, 39)),
    ((16, 16), (48, 5)),
    ((13, 9), (13, 9)),
    ((1, 1), (5, 3)),
    ((1, 7), (4, 2)),
    ((5, 4), (2, 3)),
    ((7, 5), (2, 9)),
    ((3, 3), (1, 1)),
]


def resize_cases() -> list[dict]:
    cases = []
    for (sw, sh), (dw, dh) in RESIZE_SIZES:
        rgb = smooth_rgb(sw, sh)
        labels8 = rng.integers(0, 21, (sh, sw), dtype=np.uint8)
        labels8[rng.random((sh, sw)) < 0.1] = 255
        labels16 = rng.integers(0, 60000, (sh, sw), dtype=np.uint16)
        cases.append(
            {
                "from": [sw, sh],
                "to": [dw, dh],
                "rgb": flat(rgb),
                "linear": flat(cv2.resize(rgb, (dw, dh), interpolation=cv2.INTER_LINEAR)),
                "labels8": flat(labels8),
                "nearest8": flat(cv2.resize(labels8, (dw, dh), interpolation=cv2.INTER_NEAREST)),
                "labels16": flat(labels16),
                "nearest16": flat(cv2.resize(labels16, (dw, dh), interpolation=cv2.INTER_NEAREST)),
            }
        )
    return cases


def mmcv_rescale_size(w: int, h: int, scale=(2048, 448)) -> list[int]:
    """mmcv.image.geometric.rescale_size with a (long, short) tuple, as used by mmseg's Resize(keep_ratio=True)."""
    factor = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return [int(w * float(factor) + 0.5), int(h * float(factor) + 0.5)]


MMSEG_SIZES = [(500, 375), (375, 500), (640, 480), (683, 512), (512, 683), (2048, 448), (448, 448), (13, 9)]
MMSEG_SIZES += [(4000, 100), (100, 4000), (3000, 2000), (1, 1), (1000, 1), (1920, 1080), (333, 777), (2049, 449)]


# --- labels and palettes --------------------------------------------------------------------------------


def voc_palette() -> np.ndarray:
    """The PASCAL VOC devkit's labelcolormap(256): bits of the index interleaved into R, G, B from the top."""
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        r = g = b = 0
        c = index
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[index] = (r, g, b)
    return palette


def label_cases() -> dict:
    """Label maps as datasets ship them: VOC palette PNG, greyscale (ADE/Context), small 4-bit palette."""
    w, h = 11, 7
    palette = voc_palette()
    voc = rng.integers(0, 21, (h, w), dtype=np.uint8)
    voc[0, :] = 255
    voc_img = Image.fromarray(voc, "P")
    voc_img.putpalette(flat(palette))
    voc_img.save(OUT / "voc_label.png")
    grey = rng.integers(0, 151, (h, w), dtype=np.uint8)
    Image.fromarray(grey, "L").save(OUT / "grey_label.png")
    small = rng.integers(0, 10, (h, w), dtype=np.uint8)
    small_img = Image.fromarray(small, "P")
    small_img.putpalette(flat(palette[:10]))
    small_img.save(OUT / "palette4_label.png")
    labels = []
    for name, expected in [("voc_label.png", voc), ("grey_label.png", grey), ("palette4_label.png", small)]:
        with Image.open(OUT / name) as img:
            assert np.array_equal(np.asarray(img), expected), name
            bit_depth = (OUT / name).read_bytes()[24]  # IHDR bit depth: PIL writes 4 bits for small palettes
            labels.append({"file": name, "mode": img.mode, "bitDepth": bit_depth, "width": w, "height": h})
        labels[-1]["labels"] = flat(expected)
    return {"vocPalette": flat(palette), "labels": labels}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    bad_inputs()
    write_json("decode_cases.json", {"lossless": lossless_images(), "oriented": oriented_jpeg()})
    mmseg = [{"size": [w, h], "expected": mmcv_rescale_size(w, h)} for w, h in MMSEG_SIZES]
    write_json("resize_cases.json", {"opencv": cv2.__version__, "resize": resize_cases(), "mmseg": mmseg})
    write_json("label_cases.json", label_cases())
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total / 1024:.0f} KB, into {OUT}")


if __name__ == "__main__":
    main()
