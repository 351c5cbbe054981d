#!/usr/bin/env python3
"""PyTorch reference for toonreid's training benchmarks (bench/bench_train.cpp).

The same model (dlib's ResNet face embedder + BNNeck head), batch (16 identities x 4
images, 150x150), losses (label-smoothed cross-entropy + cross-domain batch-hard
soft-margin triplet), optimiser (SGD, momentum 0.9) and thread count as the C++ side.

  step:  median seconds of one iteration (forward, losses, backward, SGD step) on a
         fixed random batch.
  epoch: images/s of one epoch of training fed by a torch DataLoader (PIL decoding, the
         same augmentation) with --workers processes: --batches PK batches of the CaVI
         train split (compare_pytorch.sh passes the number of batches of toonreid's
         epoch), timed end to end (worker start included) after two warm-up steps.

Prints one JSON object. Needs Debian's python3-torch, python3-pil, python3-numpy.
"""
import argparse, json, os, random, statistics, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

MEAN = torch.tensor([122.782, 117.001, 104.298]) / 255.0


class DlibConv(nn.Module):
    def __init__(self, cin, cout, k, stride, pad):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, pad)
        self.scale_weight = nn.Parameter(torch.ones(cout))
        self.scale_bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        return self.conv(x) * self.scale_weight.view(1, -1, 1, 1) + self.scale_bias.view(1, -1, 1, 1)


class Residual(nn.Module):
    def __init__(self, cin, cout, down):
        super().__init__()
        self.down = down
        self.conv1 = DlibConv(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.conv2 = DlibConv(cout, cout, 3, 1, 1)

    def forward(self, x):
        out = self.conv2(F.relu(self.conv1(x)))
        short = x
        if self.down:
            short = F.avg_pool2d(x, 2, 2)
            if short.shape[1] < out.shape[1]:
                short = torch.cat([short, torch.zeros_like(short)[:, : out.shape[1] - short.shape[1]]], 1)
            dh, dw = short.shape[2] - out.shape[2], short.shape[3] - out.shape[3]
            if dh > 0 or dw > 0:
                out = F.pad(out, (0, dw, 0, dh))
        return F.relu(out + short)


class DlibResNet(nn.Module):
    LAYOUT = [(32, 32, False)] * 3 + [(32, 64, True)] + [(64, 64, False)] * 3 + [(64, 128, True)] + \
             [(128, 128, False)] * 2 + [(128, 256, True)] + [(256, 256, False)] * 2 + [(256, 256, True)]

    def __init__(self):
        super().__init__()
        self.stem = DlibConv(3, 32, 7, 2, 0)
        self.blocks = nn.Sequential(*[Residual(a, b, d) for a, b, d in self.LAYOUT])
        self.fc = nn.Conv2d(256, 128, 1, bias=False)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        return self.fc(self.blocks(x))


class ReidModel(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.backbone = DlibResNet()
        self.bnneck = nn.BatchNorm1d(128)
        self.bnneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(128, classes, bias=False)

    def forward(self, x):
        pooled = self.backbone(x).mean((2, 3))
        return pooled, self.classifier(self.bnneck(pooled))


def ce_label_smoothing(logits, labels, eps=0.1):
    logp = F.log_softmax(logits, 1)
    return ((1 - eps) * -logp.gather(1, labels[:, None]).squeeze(1) + eps * -logp.mean(1)).mean()


def cross_domain_triplet(feat, labels, domains):
    aa = feat.pow(2).sum(1, keepdim=True)
    dist = torch.addmm(aa + aa.t(), feat, feat.t(), beta=1, alpha=-2).clamp_min(1e-12).sqrt()
    same = labels[None] == labels[:, None]
    other = domains[None] != domains[:, None]
    eye = torch.eye(len(labels), dtype=torch.bool)
    pos, neg = same & ~eye, ~same
    pos_x, neg_x = pos & other, neg & other
    has = (pos_x.any(1) & neg_x.any(1))[:, None]
    pos, neg = torch.where(has, pos_x, pos), torch.where(has, neg_x, neg)
    valid = pos.any(1) & neg.any(1)
    d_ap = torch.where(pos, dist, torch.full_like(dist, -1e9)).amax(1)[valid]
    d_an = torch.where(neg, dist, torch.full_like(dist, 1e9)).amin(1)[valid]
    return F.softplus(d_ap - d_an).mean()


def make_step(model, opt):
    def step(images, labels, domains):
        opt.zero_grad()
        pooled, logits = model(images)
        loss = ce_label_smoothing(logits, labels) + cross_domain_triplet(pooled, labels, domains)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def pk_labels(p=16, k=4):
    labels = torch.arange(p).repeat_interleave(k)
    domains = torch.tensor([i % 2 for i in range(p * k)])
    return labels, domains


class CaviTrain(torch.utils.data.Dataset):
    def __init__(self, root, size=150, pad=10, seed=0):
        ids = [l.strip() for l in open(os.path.join(root, "splits", "train.txt")) if l.strip()]
        self.items = []
        for label, ident in enumerate(sorted(ids)):
            folder = os.path.join(root, "images", ident)
            for f in sorted(os.listdir(folder)):
                if f[0] in "PC":
                    self.items.append((os.path.join(folder, f), label, 0 if f[0] == "P" else 1))
        self.size, self.pad = size, pad

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label, domain = self.items[i]
        img = Image.open(path).convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        if random.random() < 0.5:
            x = x.flip(2)
        x = F.pad(x, (self.pad,) * 4)
        ox, oy = random.randint(0, 2 * self.pad), random.randint(0, 2 * self.pad)
        x = x[:, oy:oy + self.size, ox:ox + self.size]
        x = x - MEAN.view(3, 1, 1)
        if random.random() < 0.5:  # random erasing, mean fill
            area = random.uniform(0.02, 0.4) * self.size * self.size
            aspect = np.exp(random.uniform(np.log(0.3), np.log(3.33)))
            h, w = int(round((area * aspect) ** 0.5)), int(round((area / aspect) ** 0.5))
            if 0 < h < self.size and 0 < w < self.size:
                y0, x0 = random.randint(0, self.size - h), random.randint(0, self.size - w)
                x[:, y0:y0 + h, x0:x0 + w] = 0
        return x, label, domain


def pk_batches(dataset, p=16, k=4, count=20, seed=0):
    rng = random.Random(seed)
    by_label = {}
    for i, (_, label, _) in enumerate(dataset.items):
        by_label.setdefault(label, []).append(i)
    labels = list(by_label)
    for _ in range(count):
        batch = []
        for label in rng.sample(labels, p):
            batch += [rng.choice(by_label[label]) for _ in range(k)]
        yield batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["step", "epoch"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "cavi"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ReidModel(102)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    step = make_step(model, opt)
    if args.mode == "step":
        images = torch.randn(64, 3, 150, 150)
        labels, domains = pk_labels()
        for _ in range(3):
            step(images, labels, domains)
        times = []
        for _ in range(args.iterations):
            t = time.perf_counter()
            step(images, labels, domains)
            times.append(time.perf_counter() - t)
        print(json.dumps({"mode": "step", "median_s": statistics.median(times), "threads": args.threads}))
        return
    data = CaviTrain(args.data)
    images = torch.randn(64, 3, 150, 150)
    for _ in range(2):  # warm-up, as on the C++ side
        step(images, *pk_labels())
    start = time.perf_counter()
    loader = torch.utils.data.DataLoader(data, batch_sampler=list(pk_batches(data, count=args.batches)),
                                         num_workers=args.workers)
    images_done = 0
    for x, labels, domains in loader:
        step(x, labels, domains)
        images_done += len(labels)
    seconds = time.perf_counter() - start
    print(json.dumps({"mode": "epoch", "images_per_s": images_done / seconds, "seconds": seconds,
                      "batches": args.batches, "threads": args.threads, "workers": args.workers}))


if __name__ == "__main__":
    main()
