"""Reference data for src/data/photometric.ts: OpenCV's 8-bit RGB <-> HSV and mmseg's PhotoMetricDistortion steps
with fixed parameters (the draws are sseg's own; the arithmetic is what is checked). Rows are 64 pixels wide:
cv2 converts HSV to RGB in vector blocks (truncating) and a row's last pixels that fill no block one by one
(rounding), so every pixel here takes the vector path, as nearly every pixel of a real image does.

The steps repeat mmseg's `PhotoMetricDistortion.convert`/`saturation`/`hue` line for line on an RGB image (mmseg
works on BGR with COLOR_BGR2HSV, which gives the same HSV). Needs Debian's python3-opencv, so run with:

    /usr/bin/python3 tools/oracles/photometric_fixtures.py      # rewrites test/fixtures/images/photometric.json
"""
import json
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "images" / "photometric.json"
rng = np.random.default_rng(20261207)


def convert(img: np.ndarray, alpha=1, beta=0) -> np.ndarray:
    img = img.astype(np.float32) * alpha + beta
    img = np.clip(img, 0, 255)
    return img.astype(np.uint8)


def distort(img: np.ndarray, draw: dict) -> np.ndarray:
    if draw.get("brightness") is not None:
        img = convert(img, beta=draw["brightness"])
    if draw["contrastFirst"] and draw.get("contrast") is not None:
        img = convert(img, alpha=draw["contrast"])
    if draw.get("saturation") is not None:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[:, :, 1] = convert(hsv[:, :, 1], alpha=draw["saturation"])
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if draw.get("hue") is not None:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[:, :, 0] = (hsv[:, :, 0].astype(int) + draw["hue"]) % 180
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if not draw["contrastFirst"] and draw.get("contrast") is not None:
        img = convert(img, alpha=draw["contrast"])
    return img


def flat(array: np.ndarray) -> list[int]:
    return [int(v) for v in array.reshape(-1)]


def main() -> None:
    # every grey level, the pure hues and random colours: 1,024 pixels for the conversions
    grid = np.concatenate(
        [
            np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1),
            rng.integers(0, 256, (1024 - 256, 3), dtype=np.uint8),
        ]
    ).reshape(16, 64, 3)
    hsv = np.concatenate(
        [rng.integers(0, 180, (1024, 1)), rng.integers(0, 256, (1024, 2))], axis=1
    ).astype(np.uint8).reshape(16, 64, 3)
    image = rng.integers(0, 256, (4, 64, 3), dtype=np.uint8)
    draws = [
        {"brightness": 20.7, "contrastFirst": True, "contrast": 1.31, "saturation": 0.62, "hue": -7},
        {"brightness": -31.2, "contrastFirst": False, "contrast": 0.55, "saturation": 1.44, "hue": 17},
        {"contrastFirst": True, "contrast": 0.83},
        {"contrastFirst": False, "saturation": 1.07},
        {"contrastFirst": False, "hue": -18},
        {"brightness": 3.5, "contrastFirst": False},
        {"contrastFirst": True},
    ]
    value = {
        "opencv": cv2.__version__,
        "rgbToHsv": {"rgb": flat(grid), "hsv": flat(cv2.cvtColor(grid, cv2.COLOR_RGB2HSV))},
        "hsvToRgb": {"hsv": flat(hsv), "rgb": flat(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))},
        "image": {"width": 64, "height": 4, "rgb": flat(image)},
        "cases": [{"draw": draw, "rgb": flat(distort(image, draw))} for draw in draws],
    }
    OUT.write_text(json.dumps(value, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
