#!/usr/bin/env python3
"""Precise batch norm for the PyTorch reference trainer's model, then its probe features.

The reference (../shared/reference/ref_swav.py) exports features with the batch-norm
running statistics its training left behind. swav-go's models are probed after
`swav-embed export --bn-idx`, which replaces those statistics by the average of the batch
statistics of 10,000 full-size training images ("precise BN"). This script does the same
to the reference's final model.pt, so that both trainers are probed under one protocol:

    /usr/bin/python3 bench/study/ref_precise_bn.py --ref ../shared/reference/ref_swav.py \
        --run out/refeq [--images 10000 --batch-size 250 --seed 1 --threads 2]

It writes RUN/features/final-bn/{train,test}.npy (+ the sidecars `swav-embed probe
--train-emb/--test-emb` reads), through the reference's own extract and save functions,
so the features differ from RUN/features/final only by the batch-norm statistics.
Equal-size batches make the running average the plain mean of the batch statistics
(swav-go weights each batch by its size: the same thing here). The batch variance is
torch's unbiased one, swav-go's the biased one: a factor 250/249 on the variance.
"""
import argparse
import importlib.util
import os

import numpy as np
import torch
import torch.nn as nn


def load_reference(path):
    spec = importlib.util.spec_from_file_location("ref_swav", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="path of ref_swav.py")
    ap.add_argument("--run", required=True, help="the reference run's --out-dir (model.pt, config.json)")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.images <= 0 or args.batch_size <= 1 or args.images % args.batch_size:
        ap.error("--images must be a positive multiple of --batch-size (> 1): equal batches")
    torch.set_num_threads(args.threads)
    ref = load_reference(args.ref)

    ckpt = torch.load(os.path.join(args.run, "model.pt"), map_location="cpu")
    cfg = ckpt["config"]
    model = ref.SmallSwAVResNet(1, hidden_mlp=cfg["hidden_mlp"], output_dim=cfg["feat_dim"],
                                nmb_prototypes=cfg["nmb_prototypes"])
    model.load_state_dict(ckpt["model"])
    mean, std = float(cfg["mean"]), float(cfg["std"])

    train = ref.read_idx(ref.find_idx(args.data_dir, "train-images-idx3-ubyte"))
    test = ref.read_idx(ref.find_idx(args.data_dir, "t10k-images-idx3-ubyte"))
    train_y = ref.read_idx(ref.find_idx(args.data_dir, "train-labels-idx1-ubyte"))
    test_y = ref.read_idx(ref.find_idx(args.data_dir, "t10k-labels-idx1-ubyte"))
    if args.images > len(train):
        ap.error(f"--images {args.images} > {len(train)} training images")

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches that follow
    pick = np.random.default_rng(args.seed).choice(len(train), args.images, replace=False)
    model.train()
    with torch.no_grad():
        for i in range(0, args.images, args.batch_size):
            x = torch.from_numpy(train[pick[i:i + args.batch_size]].astype(np.float32) / np.float32(255))
            model.forward_backbone((x.unsqueeze(1) - mean) / std)
    model.eval()

    d = os.path.join(args.run, "features", "final-bn")
    for split, imgs, labels in (("train", train, train_y), ("test", test, test_y)):
        name = ("train" if split == "train" else "t10k") + "-images-idx3-ubyte.gz"  # as ref_swav.train names them
        with torch.no_grad():
            feats = ref.extract(model, imgs, mean, std)
        ref.save_embeddings(d, split, feats, labels.astype(np.int64), name)
    print(f"features with precise batch norm ({args.images} images, {len(bns)} layers): {d}")


if __name__ == "__main__":
    main()
