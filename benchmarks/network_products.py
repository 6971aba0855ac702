"""What the network's layer products cost, four ways, and whether each keeps a row's result put.

Issue 28 asks for scores that do not depend on a row's position in a batch,
to the bit, at the speed of reading the file. The NumPy engine multiplies
each row by each layer on its own (a stack of vector-matrix products). This
script times, on a model file's own layers and in the same run (medians of
``--repeats``, one BLAS thread, chunks of the engine's 4,096 rows), the
network's linear layers and ReLUs computed as:

``per-row``
    the engine's way: ``matmul(h[:, None, :], w)``, one product per row.
``one product``
    one float32 matrix product per padded chunk (``h @ w``): what BLAS does
    fastest; equal for a row at every position only if the kernel treats
    every row of a product alike, which BLAS does not promise.
``fixed point``
    equal by construction: each row is scaled by a power of two and rounded
    to an integer grid, each weight column likewise, so that every product
    and every partial sum is an integer below 2**53 and a float64 product
    (in any order, on any number of threads) is exact; the result is scaled
    back and rounded to float32. The grid keeps ``53 - ceil(log2(K))`` bits
    between a row's and a column's values (about 23-24 bits each, float32's
    precision relative to the row's largest value).
``fixed order``
    equal by construction too, with float32 values as they are: one
    element-wise multiply and one add per input feature, in a fixed order
    (``acc += w[k] * x[k]`` for k = 0, 1, ...), on rows held feature-major
    through the whole network, so that no library chooses a summation order.

For each way it also reports how many distinct results one row gets when it
fills every position of a chunk (``--probe-rows`` random rows per layer
shape), and the largest difference from a float64 product.

Usage::

    python benchmarks/network_products.py MODEL.vae [MODEL2.vae ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np

CHUNK = 4096


def per_row(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.matmul(h[:, None, :], w)[:, 0, :]


def one_product(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    return h @ w


class FixedPoint:
    """``h @ w`` (float32) computed exactly on an integer grid in float64, then rounded to float32."""

    def __init__(self, w: np.ndarray):
        k = w.shape[0]
        bits = 53 - math.ceil(math.log2(max(k, 2)))
        self.w_bits = min(24, (bits + 1) // 2)
        self.h_bits = bits - self.w_bits
        w64 = w.astype(np.float64)
        top = np.abs(w64).max(axis=0)
        exp = np.where(top > 0, np.frexp(top)[1], 0)
        self.wq = np.rint(w64 * np.ldexp(1.0, self.w_bits - exp))
        self.w_scale = np.ldexp(1.0, exp - self.w_bits)

    def __call__(self, h: np.ndarray) -> np.ndarray:
        h64 = h.astype(np.float64)
        top = np.abs(h64).max(axis=1)
        exp = np.where(top > 0, np.frexp(top)[1], 0)
        q = h64 * np.ldexp(1.0, self.h_bits - exp)[:, None]
        np.rint(q, out=q)
        s = q @ self.wq
        s *= np.ldexp(1.0, exp - self.h_bits)[:, None]
        s *= self.w_scale
        return s.astype(np.float32)


def fixed_order(h_t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``(h @ w).T`` from ``h_t = h.T`` (d_in, n): terms added one input feature at a time, in order."""
    acc = np.multiply(w[0][:, None], h_t[0])
    term = np.empty_like(acc)
    for k in range(1, w.shape[0]):
        np.multiply(w[k][:, None], h_t[k], out=term)
        acc += term
    return acc


def network(layers: list, relu: list[bool], way: str):
    """A function (chunk of inputs) -> outputs, with the layer products computed ``way``."""
    fixed = [FixedPoint(w) for w, _ in layers] if way == "fixed point" else None

    def run_fixed_order(h: np.ndarray) -> np.ndarray:
        h_t = np.ascontiguousarray(h.T)
        for i, (w, b) in enumerate(layers):
            h_t = fixed_order(h_t[: w.shape[0]], w)  # [: k] keeps the latent mean of to_latent's outputs
            h_t += b[:, None]
            if relu[i]:
                np.maximum(h_t, 0.0, out=h_t)
        return np.ascontiguousarray(h_t.T)

    if way == "fixed order":
        return run_fixed_order

    def run(h: np.ndarray) -> np.ndarray:
        for i, (w, b) in enumerate(layers):
            if h.shape[1] != w.shape[0]:  # the latent mean: first half of to_latent's outputs
                h = np.ascontiguousarray(h[:, : w.shape[0]])
            h = fixed[i](h) if fixed else per_row(h, w) if way == "per-row" else one_product(h, w)
            h += b
            if relu[i]:
                np.maximum(h, 0.0, out=h)
        return h

    return run


def distinct_at_positions(layers: list, way: str, rows: int, rng) -> int:
    """Most distinct results one row gets over every position of a chunk, per layer, over ``rows`` rows."""
    worst = 1
    for w, _ in layers:
        f = {"fixed point": FixedPoint(w), "per-row": per_row, "one product": one_product,
             "fixed order": lambda h, w: fixed_order(np.ascontiguousarray(h.T), w).T}[way]
        for _ in range(rows):
            spread = 10.0 ** rng.uniform(-3, 3, w.shape[0])
            row = (rng.standard_normal(w.shape[0]) * spread).astype(np.float32)
            block = np.empty((CHUNK, w.shape[0]), np.float32)
            block[:] = row
            out = f(block) if isinstance(f, FixedPoint) else f(block, w)
            worst = max(worst, len({r.tobytes() for r in out}))
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--rows", type=int, default=262_144, help="rows timed per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--probe-rows", type=int, default=3)
    args = parser.parse_args(argv)

    from vae_anomaly.jobs.threads import one_thread_each
    from vae_anomaly.persistence.modelfile import load_scorer

    ways = ["per-row", "one product", "fixed point", "fixed order"]
    print("| model | layers | way | s per 1M rows (median) "
          "| distinct results of one row over a chunk's positions | largest difference from float64 |")
    print("|---|---|---|---:|---:|---:|")
    for path in args.models:
        net = load_scorer(path).engine.net
        layers = [*net.encoder, *net.to_latent, *net.decoder]
        relu = [True] * len(net.encoder) + [False] * len(net.to_latent) + \
            [True] * (len(net.decoder) - 1) + [False]
        rng = np.random.default_rng(0)
        x = rng.standard_normal((args.rows, layers[0][0].shape[0])).astype(np.float32)
        reference = network([(w.astype(np.float64), b.astype(np.float64)) for w, b in layers], relu,
                            "one product")(x[:CHUNK].astype(np.float64))
        times: dict[str, list[float]] = {way: [] for way in ways}
        runs = {way: network(layers, relu, way) for way in ways}
        for _ in range(args.repeats):
            for way in ways:  # alternating, so a change of load hits all four
                def timed(way=way, runs=runs, x=x):
                    start = time.perf_counter()
                    for s in range(0, args.rows, CHUNK):
                        runs[way](x[s:s + CHUNK])
                    return time.perf_counter() - start
                times[way].append(one_thread_each(timed)())
        shape = " ".join(f"{w.shape[0]}x{w.shape[1]}" for w, _ in layers)
        for way in ways:
            per_million = statistics.median(times[way]) / args.rows * 1e6
            err = float(np.abs(runs[way](x[:CHUNK]) - reference).max())
            distinct = one_thread_each(distinct_at_positions)(layers, way, args.probe_rows, rng)
            print(f"| {path} | {shape} | {way} | {per_million:.3f} | {distinct} | {err:.2e} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
