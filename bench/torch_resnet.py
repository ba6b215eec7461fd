#!/usr/bin/python3
"""PyTorch baseline for bench/backends: the same small ResNet as model.Small(1).

3x3/1 stem conv (32) + BN + ReLU, three stages of two BasicBlocks with widths
32/64/128 (stride 2 and a 1x1/2 conv + BN shortcut at the first block of
stages 2 and 3), global average pooling; 28x28x1 input.

  infer: eval-mode backbone under torch.inference_mode().
  train: train-mode backbone + linear 10-way head, softmax cross-entropy,
         backward and an SGD step (lr 0.01) — the same step as the Go side.

Run with one thread, as shared/BENCHMARKING.md prescribes (the environment
must be set before Python starts; bench/backends does it):

  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
      /usr/bin/python3 bench/torch_resnet.py --batch 64 --iters 5

The last line of output is JSON: {"version", "threads", "images_per_s": {mode: value}}.

With --serve (how bench/backends drives it, to interleave PyTorch with the Go
backends), it prints {"version", "threads"}, warms up every mode, then for
each line "infer" or "train" read from stdin runs one timed iteration and
prints its duration in seconds.
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class SmallResNet(nn.Module):
    def __init__(self, widths=(32, 64, 128), layers=(2, 2, 2), in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        blocks = []
        cin = widths[0]
        for s, (w, n) in enumerate(zip(widths, layers)):
            for b in range(n):
                stride = 2 if (b == 0 and s > 0) else 1
                blocks.append(BasicBlock(cin, w, stride))
                cin = w
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return x.mean(dim=(2, 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--modes", default="infer,train")
    ap.add_argument("--serve", action="store_true", help="time one iteration per mode name read from stdin")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch.set_num_threads; set OMP/OPENBLAS/MKL_NUM_THREADS to the same before Python starts")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = SmallResNet()
    head = nn.Linear(128, 10, bias=False)
    opt = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=0.01)
    x = torch.rand(args.batch, 1, 28, 28)
    y = torch.randint(0, 10, (args.batch,))

    def infer():
        net.eval()
        with torch.inference_mode():
            net(x)

    def train():
        net.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(net(x)), y)
        loss.backward()
        opt.step()

    fns = {"infer": infer, "train": train}
    if args.serve:
        print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
        for mode in args.modes.split(","):
            fns[mode]()  # warm-up
        for line in sys.stdin:
            mode = line.strip()
            if not mode:
                continue
            t0 = time.perf_counter()
            fns[mode]()
            print(f"{time.perf_counter() - t0:.6f}", flush=True)
        return

    result = {}
    for mode in args.modes.split(","):
        fn = {"infer": infer, "train": train}[mode]
        fn()  # warm-up
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        result[mode] = args.batch / med
        print(f"pytorch {mode}: {args.batch / med:.1f} images/s (median of {[round(t * 1000) for t in times]} ms)")
    print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "images_per_s": result}))


if __name__ == "__main__":
    main()
