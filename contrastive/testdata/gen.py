"""Generates contrastive/testdata/golden.json: the contrastive losses computed by PyTorch.

Run from the repository root with PyTorch 1.13 (CPU):

    /usr/bin/python3 contrastive/testdata/gen.py > contrastive/testdata/golden.json

Each section draws its inputs from its own torch.Generator seeded with the section's
`seed`, in the order its `desc` gives, so adding a section never changes another.
Everything is float64. The Go tests read only the JSON file; they never run Python.

The formulas are written the way the references write them (SimCLR's nt_xent as a
cross-entropy over [logits_ab, logits_aa] with labels arange(N), MoCo's logits =
cat([l_pos, l_neg]) with label 0, ...), independently of the Go code.
"""
import json

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def tolist(x):
    return x.detach().tolist()


def ntxent_two_views(za, zb, tau):
    """SimCLR's reference formulation (simclr/tf2 objective.add_contrastive_loss,
    world size 1): for each direction, cross-entropy of [z_a·z_bᵀ, z_a·z_aᵀ − ∞·I]/τ
    with the positive at column i; the loss is the mean of the two directions."""
    za, zb = F.normalize(za, dim=1), F.normalize(zb, dim=1)
    n = za.shape[0]
    labels = torch.arange(n)
    mask = torch.eye(n) * 1e9
    logits_aa = za @ za.T / tau - mask
    logits_bb = zb @ zb.T / tau - mask
    logits_ab = za @ zb.T / tau
    logits_ba = zb @ za.T / tau
    loss_a = F.cross_entropy(torch.cat([logits_ab, logits_aa], 1), labels)
    loss_b = F.cross_entropy(torch.cat([logits_ba, logits_bb], 1), labels)
    return (loss_a + loss_b) / 2


def ntxent_multi_view(views, tau, large):
    """Multi-crop SimCLR as the SwAV authors wrote it (VISSL's
    MultiCropSimclrInfoNCECriterion, world size 1): similarity = exp(z·zᵀ/τ); for
    each shift d = 1..V−1 the positive of row a·N+i is ((a+d) mod V)·N+i and the
    negatives are all rows of the other images; the term is −log(pos/(pos+neg)),
    averaged over the terms kept. `large` (when non-zero) drops the terms whose
    anchor and positive are both small views (index ≥ large)."""
    v, n = len(views), views[0].shape[0]
    z = F.normalize(torch.cat(views, 0), dim=1)
    similarity = torch.exp(z @ z.T / tau)
    rows = v * n
    image = torch.arange(rows) % n
    neg_mask = (image[:, None] != image[None, :]).double()
    neg = (similarity * neg_mask).sum(1)
    large = large or v
    total, count = 0.0, 0
    for d in range(1, v):
        pos_mask = torch.zeros(rows, rows)
        keep = torch.zeros(rows, dtype=torch.bool)
        for a in range(v):
            b = (a + d) % v
            if a >= large and b >= large:
                continue
            for i in range(n):
                pos_mask[a * n + i, b * n + i] = 1
                keep[a * n + i] = True
        pos = (similarity * pos_mask).sum(1)
        total = total - torch.log(pos[keep] / (pos[keep] + neg[keep])).sum()
        count += int(keep.sum())
    return total / count


def section_ntxent():
    seed = 1
    gen = torch.Generator().manual_seed(seed)
    n, d, tau = 4, 3, 0.5
    za = torch.randn(n, d, generator=gen)
    zb = torch.randn(n, d, generator=gen)
    za.requires_grad_(True)
    zb.requires_grad_(True)
    loss = ntxent_two_views(za, zb, tau)
    ga, gb = torch.autograd.grad(loss, [za, zb])
    check = ntxent_multi_view([za, zb], tau, 0)
    assert abs(check.item() - loss.item()) < 1e-12, (check.item(), loss.item())
    return {
        "desc": "z_a = randn(4, 3), z_b = randn(4, 3) (not normalised); tau 0.5; "
                "loss = SimCLR's two-view NT-Xent; grad_a, grad_b = d loss / d z_a, d z_b",
        "seed": seed, "temperature": tau,
        "z_a": tolist(za), "z_b": tolist(zb), "loss": loss.item(),
        "grad_a": tolist(ga), "grad_b": tolist(gb),
    }


def section_ntxent_multicrop():
    seed = 2
    gen = torch.Generator().manual_seed(seed)
    n, d, v, large, tau = 3, 4, 4, 2, 0.2
    views = [torch.randn(n, d, generator=gen).requires_grad_(True) for _ in range(v)]
    out = {}
    for name, lv in (("all_pairs", 0), ("large_2", large)):
        loss = ntxent_multi_view(views, tau, lv)
        grads = torch.autograd.grad(loss, views)
        out[name] = {"large_views": lv, "loss": loss.item(), "grads": [tolist(g) for g in grads]}
    return {
        "desc": "4 views, each randn(3, 4), drawn in view order; tau 0.2; all_pairs: every "
                "ordered pair of distinct views (VISSL's multi-crop SimCLR); large_2: the pairs "
                "of two small views (2, 3) and (3, 2) left out",
        "seed": seed, "temperature": tau, "views": [tolist(x) for x in views], **out,
    }


def main():
    out = {
        "torch_version": torch.__version__,
        "ntxent": section_ntxent(),
        "ntxent_multicrop": section_ntxent_multicrop(),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
