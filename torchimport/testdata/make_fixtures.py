#!/usr/bin/python3
"""Writes the PyTorch fixtures of swav-go's torchimport tests.

Run with Debian's PyTorch (apt-get install -y python3-torch; python3-torchvision is
optional and only used for a self-check) from this directory:

    /usr/bin/python3 make_fixtures.py

It builds small ResNets with random weights and random batch-norm statistics, saves
them the ways PyTorch users and the SwAV release do, and records what the networks
compute in eval mode for a fixed input, so the Go tests can check the import without
PyTorch. Everything is seeded: running it again rewrites the same values (the zip
archives may differ in their storage keys only).

Files written:
  input_2x64x64x3.f32        the input, NHWC float32 little-endian (2 x 64 x 64 x 3)
  resnet_basic_tv.pt         basic-block ResNet, ImageNet stem, torchvision layout:
                             a plain state dict (with an fc classifier), zip format
  swav_bottleneck.pt         ResNet-50 layout ([3,4,6,3] bottlenecks) at 1/16 width with
                             the SwAV head and prototypes, as {"state_dict": {"module."+k}}
                             plus other training entries, zip format
  swav_bottleneck_legacy.pt  the same weights as a bare {"module."+k} state dict in the
                             legacy (pre-1.6) serialization, like the released SwAV files
  swav_basic_nobn.pt         basic-block ResNet whose head has no batch norm
                             (Linear, ReLU, Linear: the released x5 model's head), bare
  mlp.pt                     a state dict of another network (a tiny MLP)
  tensors.pt, tensors_legacy.pt, tensors_proto4.pt
                             assorted tensors (non-contiguous, offset views, float16,
                             float64, int64, scalar, empty) for the reader, the last
                             with pickle protocol 4 (torch.save's default is 2)
  expected.json              what the networks compute, and the tensors' values
"""

import argparse
import collections
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


class Basic(nn.Module):
    """Two 3x3 convs; torchvision's BasicBlock parameter names."""

    expansion = 1

    def __init__(self, cin, width, stride):
        super().__init__()
        out = width
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottle(nn.Module):
    """1x1, 3x3 (strided), 1x1 x4; torchvision's Bottleneck (v1.5) parameter names."""

    expansion = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        out = width * 4
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Net(nn.Module):
    """A ResNet with the ImageNet stem whose every stage is widened alike (as SwAV's
    resnet50.py with its widen factor), with torchvision's parameter names, an optional
    torchvision classifier (fc) and an optional SwAV head (projection_head, prototypes)."""

    def __init__(self, block, layers, widths, fc=0, hidden=0, out=0, head_bn=True, prototypes=0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin = widths[0]
        for s, (n, w) in enumerate(zip(layers, widths)):
            blocks = []
            for b in range(n):
                blocks.append(block(cin, w, 2 if (b == 0 and s > 0) else 1))
                cin = w * block.expansion
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.nstages = len(layers)
        self.fc = nn.Linear(cin, fc) if fc else None
        self.projection_head = None
        if out and hidden:
            mods = [nn.Linear(cin, hidden)]
            if head_bn:
                mods.append(nn.BatchNorm1d(hidden))
            mods += [nn.ReLU(inplace=True), nn.Linear(hidden, out)]
            self.projection_head = nn.Sequential(*mods)
        elif out:
            self.projection_head = nn.Linear(cin, out)
        dim = out if out else cin
        self.prototypes = nn.Linear(dim, prototypes, bias=False) if prototypes else None

    def features(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for s in range(self.nstages):
            x = getattr(self, "layer%d" % (s + 1))(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x):
        f = self.features(x)
        return self.fc(f) if self.fc is not None else f


def randomize(net, gen):
    """Random weights and non-trivial batch-norm statistics."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_out) ** 0.5)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=gen)))
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.in_features ** 0.5
                m.weight.copy_((2 * torch.rand(m.weight.shape, generator=gen) - 1) * bound)
                if m.bias is not None:
                    m.bias.copy_((2 * torch.rand(m.bias.shape, generator=gen) - 1) * bound)
        # Damp each residual branch's last batch norm, so activations stay of order one
        # through deep stacks and an absolute tolerance stays meaningful.
        for m in net.modules():
            last = getattr(m, "bn3", None) if hasattr(m, "conv3") else getattr(m, "bn2", None)
            if hasattr(m, "downsample") and last is not None:
                last.weight.mul_(0.3)


def outputs(net, x):
    """Pooled features, raw head output, L2-normalised embedding and prototype scores."""
    with torch.no_grad():
        f = net.features(x)
        res = {"features": f}
        if net.projection_head is not None:
            p = net.projection_head(f)
            res["projection"] = p
        else:
            p = f
        z = F.normalize(p, dim=1, p=2)
        res["embedding"] = z
        if net.prototypes is not None:
            res["scores"] = net.prototypes(z)
    return {k: v.tolist() for k, v in res.items()}


def self_check():
    """Checks that Net has torchvision's layout and computes what torchvision's ResNets
    compute, when torchvision is installed."""
    try:
        from torchvision.models import resnet18, resnet50
    except ImportError:
        print("torchvision not installed: skipping the layout self-check")
        return
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 3, 64, 64, generator=gen)
    for ctor, block, layers in ((resnet18, Basic, [2, 2, 2, 2]), (resnet50, Bottle, [3, 4, 6, 3])):
        tv = ctor()
        randomize(tv, gen)
        tv.eval()
        ours = Net(block, layers, [64, 128, 256, 512], fc=1000)
        ours.load_state_dict(tv.state_dict(), strict=True)
        ours.eval()
        with torch.no_grad():
            diff = (tv(x) - ours(x)).abs().max().item()
        assert diff < 1e-4, (ctor.__name__, diff)
        print("self-check: %s layout and outputs match torchvision (max diff %.2e)" % (ctor.__name__, diff))


def save_tensors(path, legacy, protocol=2):
    """Assorted tensors exercising the reader; returns their expected values."""
    gen = torch.Generator().manual_seed(3)
    base = torch.randn(4, 6, generator=gen)
    shared = torch.arange(10, dtype=torch.float32) / 4
    d = collections.OrderedDict()
    d["contiguous"] = base
    d["transposed"] = base.t()  # non-contiguous: strides (1, 6)
    d["strided"] = base[::2, 1::2]  # offset 1, strides (12, 2)
    d["view_a"] = shared[2:7]  # offset 2 into a storage shared with view_b
    d["view_b"] = shared.view(2, 5)
    d["half"] = torch.randn(3, 2, generator=gen).half()
    d["double"] = torch.randn(5, generator=gen, dtype=torch.float64)
    d["long"] = torch.tensor([[-3, 0], [7, 123456]], dtype=torch.int64)
    d["scalar"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    kw = {"_use_new_zipfile_serialization": False} if legacy else {}
    torch.save(d, path, pickle_protocol=protocol, **kw)
    return {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""),
                "values": v.double().reshape(-1).tolist()} for k, v in d.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    out = args.out
    torch.manual_seed(0)
    self_check()

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 64, 64, generator=gen)
    x.permute(0, 2, 3, 1).contiguous().numpy().astype("<f4").tofile(os.path.join(out, "input_2x64x64x3.f32"))
    expected = {"input": {"file": "input_2x64x64x3.f32", "shape_nhwc": [2, 64, 64, 3]}, "models": {}}

    # 1. torchvision layout, basic blocks, a plain state dict with a classifier.
    gen = torch.Generator().manual_seed(11)
    tv = Net(Basic, [1, 1, 1, 1], [8, 16, 32, 64], fc=10)
    randomize(tv, gen)
    tv.eval()
    torch.save(tv.state_dict(), os.path.join(out, "resnet_basic_tv.pt"))
    expected["models"]["resnet_basic_tv.pt"] = outputs(tv, x)

    # 2. ResNet-50 layout at 1/16 width with the SwAV head, in SwAV's layouts.
    gen = torch.Generator().manual_seed(12)
    sw = Net(Bottle, [3, 4, 6, 3], [4, 8, 16, 32], hidden=32, out=16, prototypes=10)
    randomize(sw, gen)
    sw.eval()
    sd = collections.OrderedDict(("module." + k, v) for k, v in sw.state_dict().items())
    run_args = argparse.Namespace(arch="resnet50", epochs=800, nmb_prototypes=10)
    ckpt = {"epoch": 800, "state_dict": sd, "args": run_args,
            "amp": {"loss_scaler0": {"loss_scale": 65536.0, "unskipped": 12}}}
    torch.save(ckpt, os.path.join(out, "swav_bottleneck.pt"))
    torch.save(sd, os.path.join(out, "swav_bottleneck_legacy.pt"), _use_new_zipfile_serialization=False)
    expected["models"]["swav_bottleneck.pt"] = outputs(sw, x)
    expected["models"]["swav_bottleneck_legacy.pt"] = expected["models"]["swav_bottleneck.pt"]

    # 3. A head without batch norm (the released x5 model's), bare keys.
    gen = torch.Generator().manual_seed(13)
    nb = Net(Basic, [1, 1, 1, 1], [4, 8, 16, 32], hidden=16, out=8, head_bn=False, prototypes=5)
    randomize(nb, gen)
    nb.eval()
    torch.save(nb.state_dict(), os.path.join(out, "swav_basic_nobn.pt"))
    expected["models"]["swav_basic_nobn.pt"] = outputs(nb, x)

    # 4. Another architecture.
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    torch.save(mlp.state_dict(), os.path.join(out, "mlp.pt"))

    # 5. Tensors for the reader.
    expected["tensors"] = save_tensors(os.path.join(out, "tensors.pt"), legacy=False)
    save_tensors(os.path.join(out, "tensors_legacy.pt"), legacy=True)
    save_tensors(os.path.join(out, "tensors_proto4.pt"), legacy=False, protocol=4)

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(out)):
        if not name.endswith(".py"):
            print("%8d %s" % (os.path.getsize(os.path.join(out, name)), name))


if __name__ == "__main__":
    main()
