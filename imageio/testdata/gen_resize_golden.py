#!/usr/bin/python3
"""Writes golden values for the imageio tensor tests, computed by PIL and
(when installed) torchvision, independently of the Go code.

    /usr/bin/python3 imageio/testdata/gen_resize_golden.py

Needs Debian's python3-pil and python3-numpy; python3-torchvision adds the
torchvision cross-checks (resize with antialias=True, CenterCrop, Resize(int)
output sizes). Output: imageio/testdata/resize_golden.json and
imageio/testdata/transforms_golden.json.
"""
import json
import os

import numpy as np
from PIL import Image

try:
    import torch
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF
except ImportError:  # torchvision is optional
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240611)


def f32list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def resize_cases():
    # (name, in_h, in_w, out_h, out_w)
    shapes = [
        ("down_factor2_4x4_to_2x2", 4, 4, 2, 2),
        ("down_7x5_to_3x4", 7, 5, 3, 4),
        ("down_16x12_to_5x5", 16, 12, 5, 5),
        ("down_13x17_to_4x6", 13, 17, 4, 6),
        ("up_3x4_to_7x9", 3, 4, 7, 9),
        ("up_2x2_to_4x4", 2, 2, 4, 4),
        ("up_1x1_to_3x2", 1, 1, 3, 2),
        ("mixed_6x10_to_9x4", 6, 10, 9, 4),
        ("rows_only_1x8_to_1x3", 1, 8, 1, 3),
        ("down_40x30_to_7x11", 40, 30, 7, 11),
    ]
    cases = []
    for name, ih, iw, oh, ow in shapes:
        src = rng.random((ih, iw), dtype=np.float32)
        pil = Image.fromarray(src, mode="F").resize((ow, oh), Image.BILINEAR)
        case = {
            "name": name,
            "in_h": ih, "in_w": iw, "out_h": oh, "out_w": ow,
            "input": f32list(src),
            "pil": f32list(np.asarray(pil, dtype=np.float32)),
        }
        if torch is not None:
            t = torch.from_numpy(src)[None, None]
            out = TF.resize(t, [oh, ow], interpolation=T.InterpolationMode.BILINEAR, antialias=True)
            case["torchvision"] = f32list(out[0, 0].numpy())
        cases.append(case)
    return cases


def luma_cases():
    px = rng.integers(0, 256, size=(32, 3), dtype=np.uint8)
    px[:6] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 64, 200]]
    img = Image.fromarray(px[None, :, :], mode="RGB")
    lum = np.asarray(img.convert("L"))[0]
    return [[int(r), int(g), int(b), int(l)] for (r, g, b), l in zip(px, lum)]


def crop_cases():
    if torch is None:
        return []
    # (in_h, in_w, crop_h, crop_w); inputs are 1 + index so zero padding shows.
    shapes = [(5, 5, 2, 2), (6, 6, 3, 3), (7, 7, 2, 2), (7, 6, 4, 3), (4, 4, 2, 2),
              (2, 3, 4, 6), (3, 8, 5, 4), (8, 3, 4, 5), (5, 4, 5, 4), (3, 3, 6, 6), (1, 1, 2, 3)]
    cases = []
    for ih, iw, ch, cw in shapes:
        src = torch.arange(1, ih * iw + 1, dtype=torch.float32).reshape(1, ih, iw)
        out = TF.center_crop(src, [ch, cw])
        cases.append({"in_h": ih, "in_w": iw, "crop_h": ch, "crop_w": cw,
                      "output": f32list(out[0].numpy())})
    return cases


def resize_shorter_cases():
    if torch is None:
        return []
    sizes = [(480, 640, 224), (640, 480, 224), (500, 375, 256), (375, 500, 256),
             (100, 100, 64), (333, 500, 224), (500, 333, 224), (64, 96, 32), (7, 3, 5)]
    cases = []
    for ih, iw, size in sizes:
        out = T.Resize(size, antialias=True)(torch.zeros(1, ih, iw))
        cases.append({"in_h": ih, "in_w": iw, "size": size,
                      "out_h": int(out.shape[1]), "out_w": int(out.shape[2])})
    return cases


def main():
    with open(os.path.join(HERE, "resize_golden.json"), "w") as f:
        json.dump({"generator": "gen_resize_golden.py",
                   "pil_version": Image.__version__ if hasattr(Image, "__version__") else "",
                   "torch_version": torch.__version__ if torch is not None else "",
                   "cases": resize_cases()}, f)
    with open(os.path.join(HERE, "transforms_golden.json"), "w") as f:
        json.dump({"generator": "gen_resize_golden.py",
                   "luma": luma_cases(),
                   "center_crop": crop_cases(),
                   "resize_shorter": resize_shorter_cases()}, f)


if __name__ == "__main__":
    main()
