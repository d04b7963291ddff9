"""Reference mIoU: mmseg's `intersect_and_union` / `total_intersect_and_union` / `mean_iou` logic
(mmseg/core/evaluation/metrics.py, Apache-2.0), re-expressed with numpy histograms, on random predictions and
labels with ignored pixels, out-of-range predictions and absent classes, with and without reduce_zero_label.

    /usr/bin/python3 tools/oracles/miou_fixture.py   # writes test/fixtures/eval/miou_cases.json
"""
import json

import numpy as np

from common import FIXTURES

rng = np.random.default_rng(0)


def intersect_and_union(pred, label, num_classes, ignore_index, reduce_zero_label):
    label = label.astype(np.int64).copy()
    if reduce_zero_label:
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
    mask = label != ignore_index
    pred, label = pred[mask], label[mask]
    intersect = pred[pred == label]
    # torch.histc(x, bins=C, min=0, max=C−1) puts value v in bin v and drops values outside [0, C−1]
    def hist(x):
        return np.bincount(x[(x >= 0) & (x <= num_classes - 1)], minlength=num_classes).astype(np.float64)

    area_i, area_p, area_l = hist(intersect), hist(pred), hist(label)
    return area_i, area_p + area_l - area_i, area_p, area_l


def case(num_classes, images, reduce_zero_label):
    totals = [np.zeros(num_classes) for _ in range(4)]
    data = []
    for _ in range(images):
        h, w = rng.integers(3, 12, size=2)
        label = rng.integers(0, num_classes + (1 if reduce_zero_label else 0), size=(h, w))
        label[rng.random((h, w)) < 0.1] = 255
        pred = rng.integers(0, num_classes + 1, size=(h, w))  # some predictions past the last class
        if num_classes > 3:
            pred[pred == 2] = 1  # class 2 never predicted
        for t, v in zip(totals, intersect_and_union(pred, label, num_classes, 255, reduce_zero_label)):
            t += v
        data.append({"pred": pred.ravel().tolist(), "label": label.ravel().tolist()})
    area_i, area_u, _, area_l = totals
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = area_i / area_u
        acc = area_i / area_l
    return {
        "numClasses": num_classes,
        "reduceZeroLabel": reduce_zero_label,
        "images": data,
        "iou": [None if np.isnan(v) else float(v) for v in iou],
        "accuracy": [None if np.isnan(v) else float(v) for v in acc],
        "miou": float(np.nanmean(iou)),
        "aAcc": float(area_i.sum() / area_l.sum()),
    }


cases = [case(5, 4, False), case(6, 3, True), case(21, 5, False), case(3, 1, False)]
(FIXTURES / "eval").mkdir(parents=True, exist_ok=True)
with open(FIXTURES / "eval" / "miou_cases.json", "w") as f:
    json.dump(cases, f)
print(len(cases), "cases")
