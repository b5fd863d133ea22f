"""Brute-force re-ranking references, written plainly from the methods' definitions (float64, loops)."""
import numpy as np


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def ranked(scores, skip=None):
    """Gallery rows by descending score, lower row first on ties, without row ``skip``."""
    order = [int(j) for j in np.argsort(-scores, kind="stable")]
    return [j for j in order if j != skip]


def query_expansion(q, gallery, k, alpha, length, skip=None):
    """(scores, rows): search again with q + sum_i w_i g_i over the top-k (cosine)."""
    g = unit(gallery)
    q = unit(q)
    sims = g @ q
    top = ranked(sims, skip)[:k]
    expanded = q.copy()
    for j in top:
        weight = 1.0 if alpha == 0 else max(sims[j], 0.0) ** alpha
        expanded = expanded + weight * g[j]
    expanded = unit(expanded)
    new = g @ expanded
    rows = ranked(new, skip)[:length]
    return new[rows], rows


def dba(gallery, k, alpha):
    g = unit(gallery)
    out = np.empty_like(g)
    for i in range(len(g)):
        sims = g @ g[i]
        total = g[i].copy()
        for j in ranked(sims, skip=i)[:k]:
            weight = 1.0 if alpha == 0 else max(sims[j], 0.0) ** alpha
            total = total + weight * g[j]
        out[i] = unit(total)
    return out


def k_reciprocal(q, gallery, k1, k2, lam):
    """Final distances from q to every row of ``gallery`` on the set [q; gallery] (Zhong et al. 2017)."""
    x = np.concatenate([unit(q)[None], unit(gallery)])
    n = len(x)
    dist = np.array([[float(np.sum((x[i] - x[j]) ** 2)) for j in range(n)] for i in range(n)])
    initial_rank = np.argsort(dist, axis=1, kind="stable")

    def reciprocal(i, k):
        forward = initial_rank[i, :k + 1]
        return [int(c) for c in forward if i in initial_rank[c, :k + 1]]

    V = np.zeros((n, n))
    for i in range(n):
        r = reciprocal(i, k1)
        expansion = list(r)
        for c in r:
            rc = reciprocal(c, int(np.around(k1 / 2.0)))
            if len(set(rc) & set(r)) > 2.0 / 3.0 * len(rc):
                expansion += rc
        expansion = sorted(set(expansion))
        weight = np.exp(-dist[i, expansion])
        V[i, expansion] = weight / weight.sum()
    if k2 > 1:
        V = np.array([V[initial_rank[i, :k2]].mean(axis=0) for i in range(n)])
    final = []
    for j in range(1, n):
        shared = sum(min(V[0, t], V[j, t]) for t in range(n))
        jaccard = 1.0 - shared / (2.0 - shared)
        final.append((1 - lam) * jaccard + lam * dist[0, j])
    return np.array(final)
