#!/usr/bin/env python3
"""NumPy references for toonreid's retrieval benchmarks (bench/compare_numpy.sh).

  make    DIR --queries Q --gallery G --dim D --ids I --seed S
          writes clustered features q.npy, g.npy and labels ql.npy, gl.npy (float32)
  rerank  DIR [--k1 20 --k2 6 --lambda 0.3] [--out FILE]
          k-reciprocal re-ranking, the dense algorithm as ReID code bases write it
          (N x N matrices, a full argsort of every row; squared Euclidean base distance)
  metrics DIR
          mAP / CMC / mINP: full distance matrix, then a full argsort of every row
          (in chunks of rows so that the index matrix fits in memory)

Prints one JSON object: the seconds spent in the computation and work_mb, its peak
resident memory above what the process held before it (loading excluded).
Written for this benchmark; needs Debian's python3-numpy.
"""
import argparse, json, os, time

import numpy as np


def make(a):
    rng = np.random.default_rng(a.seed)
    # --latent L: identities and their spread live in an L-dimensional subspace (embeddings
    # of faces have a low intrinsic dimension), mapped to --dim by a random projection,
    # plus a little noise in every dimension.
    space = a.latent if a.latent > 0 else a.dim
    centres = rng.standard_normal((a.ids, space)).astype(np.float32)
    projection = (rng.standard_normal((space, a.dim)) / np.sqrt(space)).astype(np.float32) if a.latent > 0 else None
    def draw(n):
        labels = rng.integers(0, a.ids, n)
        feats = centres[labels] + a.noise * rng.standard_normal((n, space)).astype(np.float32)
        if projection is not None:
            feats = feats @ projection + 0.05 * rng.standard_normal((n, a.dim)).astype(np.float32)
        return feats.astype(np.float32), labels.astype(np.int64)
    q, ql = draw(a.queries)
    g, gl = draw(a.gallery)
    os.makedirs(a.dir, exist_ok=True)
    for name, x in (("q", q), ("g", g), ("ql", ql), ("gl", gl)):
        np.save(os.path.join(a.dir, name + ".npy"), x)


def euclidean_sq(x, y):
    d = (x * x).sum(1, keepdims=True) + (y * y).sum(1)[None] - 2 * x @ y.T
    return np.maximum(d, 0, out=d)


def re_ranking(q, g, k1, k2, lam):
    nq = q.shape[0]
    feats = np.concatenate([q, g])
    original = euclidean_sq(feats, feats).astype(np.float32)
    original = np.transpose(original / np.max(original, axis=0))
    all_num = original.shape[0]
    V = np.zeros_like(original, dtype=np.float32)
    initial_rank = np.argsort(original, axis=1, kind="stable").astype(np.int32)
    half = int(np.around(k1 / 2.0))
    for i in range(all_num):
        forward = initial_rank[i, :k1 + 1]
        backward = initial_rank[forward, :k1 + 1]
        recip = forward[np.where(backward == i)[0]]
        expansion = recip
        for c in recip:
            cf = initial_rank[c, :half + 1]
            cb = initial_rank[cf, :half + 1]
            crecip = cf[np.where(cb == c)[0]]
            if len(np.intersect1d(crecip, recip)) > 2.0 / 3 * len(crecip):
                expansion = np.append(expansion, crecip)
        expansion = np.unique(expansion)
        weight = np.exp(-original[i, expansion])
        V[i, expansion] = weight / np.sum(weight)
    original = original[:nq]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=np.float32)
        for i in range(all_num):
            V_qe[i] = np.mean(V[initial_rank[i, :k2]], axis=0)
        V = V_qe
        del V_qe
    del initial_rank
    inv_index = [np.where(V[:, i] != 0)[0] for i in range(all_num)]
    jaccard = np.zeros_like(original, dtype=np.float32)
    for i in range(nq):
        temp_min = np.zeros((1, all_num), dtype=np.float32)
        nonzero = np.where(V[i] != 0)[0]
        for j in nonzero:
            rows = inv_index[j]
            temp_min[0, rows] += np.minimum(V[i, j], V[rows, j])
        jaccard[i] = 1 - temp_min / (2.0 - temp_min)
    final = jaccard * (1 - lam) + original * lam
    return final[:, nq:]


def metrics(distmat, ql, gl, max_rank=10, chunk=500):
    aps, inps, cmc, valid = [], [], np.zeros(max_rank), 0
    for s in range(0, distmat.shape[0], chunk):
        indices = np.argsort(distmat[s:s + chunk], axis=1, kind="stable")
        matches = (gl[indices] == ql[s:s + chunk, None]).astype(np.int32)
        for m in matches:
            if not m.any():
                continue
            valid += 1
            hits = np.where(m == 1)[0]
            cmc[hits[0]:] += 1
            aps.append((np.arange(1, len(hits) + 1) / (hits + 1)).mean())
            inps.append(len(hits) / (hits[-1] + 1))
    return {"mAP": float(np.mean(aps)), "mINP": float(np.mean(inps)), "rank1": float(cmc[0] / valid), "evaluated": valid}


def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["make", "rerank", "metrics"])
    ap.add_argument("dir")
    ap.add_argument("--queries", type=int, default=2500)
    ap.add_argument("--gallery", type=int, default=3300)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--ids", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise", type=float, default=1.2, help="per-dimension spread around each identity's centre")
    ap.add_argument("--latent", type=int, default=0, help="intrinsic dimension (0: identities spread over all of --dim)")
    ap.add_argument("--k1", type=int, default=20)
    ap.add_argument("--k2", type=int, default=6)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.3)
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.mode == "make":
        return make(a)
    q, g = np.load(os.path.join(a.dir, "q.npy")), np.load(os.path.join(a.dir, "g.npy"))
    if a.mode == "metrics":
        ql, gl = np.load(os.path.join(a.dir, "ql.npy")), np.load(os.path.join(a.dir, "gl.npy"))
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak mark: VmHWM = peak from here
        f.write("5")
    rss_before = status_mb("VmRSS")
    t = time.perf_counter()
    if a.mode == "rerank":
        d = re_ranking(q, g, a.k1, a.k2, a.lam)
        result = {}
        if a.out:
            np.save(a.out, d.astype(np.float32))
    else:
        distmat = np.sqrt(euclidean_sq(q, g))
        result = metrics(distmat, ql, gl)
    seconds = time.perf_counter() - t
    result.update({"mode": a.mode, "seconds": seconds, "work_mb": status_mb("VmHWM") - rss_before,
                   "queries": len(q), "gallery": len(g)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
