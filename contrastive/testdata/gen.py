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

import numpy as np

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


def moco_infonce(q, k, queue_dk, tau):
    """MoCo's loss (facebookresearch/moco builder.py MoCo.forward + main_moco.py):
    q, k normalised; l_pos = einsum('nc,nc->n'), l_neg = einsum('nc,ck->nk') against
    the D×K queue; cross-entropy of cat([l_pos, l_neg])/T with label 0."""
    q = F.normalize(q, dim=1)
    k = F.normalize(k, dim=1).detach()
    l_pos = torch.einsum("nc,nc->n", [q, k]).unsqueeze(-1)
    l_neg = torch.einsum("nc,ck->nk", [q, queue_dk.detach()])
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    labels = torch.zeros(logits.shape[0], dtype=torch.long)
    return F.cross_entropy(logits, labels)


def section_infonce():
    seed = 3
    gen = torch.Generator().manual_seed(seed)
    n, d, k, tau = 4, 3, 5, 0.2
    q = torch.randn(n, d, generator=gen).requires_grad_(True)
    key = torch.randn(n, d, generator=gen).requires_grad_(True)
    queue = F.normalize(torch.randn(k, d, generator=gen), dim=1)  # stored K x D
    loss = moco_infonce(q, key, queue.T, tau)
    gq, gk = torch.autograd.grad(loss, [q, key], allow_unused=True)
    assert gk is None  # keys carry no gradient
    return {
        "desc": "q = randn(4, 3), k = randn(4, 3), queue = normalize(randn(5, 3)) (K x D); tau 0.2; "
                "loss = MoCo's InfoNCE; grad_q = d loss / d q (k and the queue carry none)",
        "seed": seed, "temperature": tau, "q": tolist(q), "k": tolist(key), "queue": tolist(queue),
        "loss": loss.item(), "grad_q": tolist(gq),
    }


class NCEAverageLike:
    """VISSL's NCEAverage (loss_type nce) reduced to what one step does, with the K
    negatives shared by the batch: out = exp(bmm(weight, embedding)/T), Z set on the
    first call to out.mean() * nLem, out / Z."""

    def __init__(self, n_lem, tau, z=-1.0):
        self.n_lem, self.tau, self.z = n_lem, tau, z

    def __call__(self, embedding, positive, negatives):
        b, d = embedding.shape
        kk = negatives.shape[0]
        weight = torch.cat([positive.unsqueeze(1), negatives.unsqueeze(0).expand(b, kk, d)], 1).detach()
        out = torch.exp(torch.bmm(weight, embedding.view(b, d, 1)) / self.tau)
        if self.z < 0:
            self.z = out.mean().item() * self.n_lem
        return (out / self.z).reshape(b, kk + 1)


def nce_criterion(x, n_lem):
    """lemniscate's NCECriterion as VISSL carries it."""
    eps = float(np.finfo("float32").eps)
    batch = x.size(0)
    k = x.size(1) - 1
    pnt = pns = 1 / float(n_lem)
    pmt = x.select(1, 0)
    ln_pmt = torch.div(pmt, pmt.add(k * pnt + eps)).log()
    pon_div = x.narrow(1, 1, k).add(k * pns + eps)
    ln_pon = torch.div(pon_div.clone().fill_(k * pns), pon_div).log()
    return -(ln_pmt.sum(0) + ln_pon.view(-1, 1).sum(0)) / batch


def section_pirl():
    seed = 4
    gen = torch.Generator().manual_seed(seed)
    b, d, k, n_lem, tau, lam = 3, 4, 6, 50, 0.5, 0.5
    jigsaw = torch.randn(b, d, generator=gen).requires_grad_(True)
    image = torch.randn(b, d, generator=gen).requires_grad_(True)
    positive = F.normalize(torch.randn(b, d, generator=gen), dim=1)
    negatives = F.normalize(torch.randn(k, d, generator=gen), dim=1)
    out = {}
    for name, z0 in (("estimated_z", -1.0), ("given_z", 40.0)):
        avg = NCEAverageLike(n_lem, tau, z0)
        # VISSL: norm_embedding, then the patches term (which sets Z on the first
        # call), then the image term; loss_weights [lam, 1 - lam].
        s_j = avg(F.normalize(jigsaw, dim=1), positive, negatives)
        loss_j = nce_criterion(s_j, n_lem)
        s_i = avg(F.normalize(image, dim=1), positive, negatives)
        loss_i = nce_criterion(s_i, n_lem)
        loss = lam * loss_j + (1 - lam) * loss_i
        gj, gi = torch.autograd.grad(loss.sum(), [jigsaw, image])
        out[name] = {"partition_in": z0, "partition": avg.z, "loss": loss.item(),
                     "jigsaw_loss": loss_j.item(), "image_loss": loss_i.item(),
                     "grad_jigsaw": tolist(gj), "grad_image": tolist(gi)}
    return {
        "desc": "jigsaw = randn(3, 4), image = randn(3, 4), positive = normalize(randn(3, 4)), "
                "negatives = normalize(randn(6, 4)); |D| 50, tau 0.5, lambda 0.5; estimated_z: Z from "
                "the jigsaw term's scores (VISSL's first step); given_z: Z = 40",
        "seed": seed, "temperature": tau, "lambda": lam, "data_size": n_lem,
        "jigsaw": tolist(jigsaw), "image": tolist(image), "positive": tolist(positive),
        "negatives": tolist(negatives), **out,
    }


def main():
    out = {
        "torch_version": torch.__version__,
        "ntxent": section_ntxent(),
        "ntxent_multicrop": section_ntxent_multicrop(),
        "infonce": section_infonce(),
        "pirl": section_pirl(),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
