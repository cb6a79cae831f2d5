"""Hypercolumn codes (issue 7, "better maps"; docs/ABLATIONS.md): 8-bit ITQ fitted on
BSDS500 train on concatenations of conv2..conv5 (each layer divided by its RMS over
train; conv2's grid has stride 8, conv3-5's 16), the image at its own size, each used as
the codes of the hierarchy (weights of the default, no small-region rule) on BSDS500 val
against EGS, with the harness of explore_beyond_paper.py (run that first: it caches the
baseline sweeps in /tmp/tfbm_explore).

    python experiments/explore_hypercolumns.py [bsds500|msrc] [w_code,w_boundary ...]

Fits and maps are cached in /tmp/tfbm_explore/hypercolumns.
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_BINMAP_CACHE", "/tmp/tfbm_cache")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import explore_beyond_paper as ex  # noqa: E402

from tf_binmap.evaluation.datasets import BSDS500, MSRC  # noqa: E402
from tf_binmap.hashing.itq import fit_itq  # noqa: E402
from tf_binmap.models.alexnet import AlexNetFCN
from tf_binmap.models.architecture import feature_geometry

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LAYERS = ("conv2", "conv3", "conv4", "conv5")
VARIANTS = {  # name -> (layers, grid layer)
    "c5": (("conv5",), "conv5"),
    "c4": (("conv4",), "conv4"),
    "hc45": (("conv4", "conv5"), "conv5"),
    "hc345": (("conv3", "conv4", "conv5"), "conv5"),
    "hc2345": (("conv2", "conv3", "conv4", "conv5"), "conv2"),
    "hc25": (("conv2", "conv5"), "conv2"),
}
BITS = int(os.environ.get("HC_BITS", "8"))
OUT = Path("/tmp/tfbm_explore/hypercolumns")
OUT.mkdir(parents=True, exist_ok=True)

model = AlexNetFCN.from_preset("alexnet_torchvision_lpips", feature_layers=LAYERS)


def nearest(src_layer, dst_layer, n_dst, n_src):
    """For each cell of dst_layer's axis (n_dst cells), the nearest src cell."""
    s_stride, s_off = feature_geometry("torchvision", src_layer)
    d_stride, d_off = feature_geometry("torchvision", dst_layer)
    centres = d_off + d_stride * np.arange(n_dst)
    return np.clip(np.rint((centres - s_off) / s_stride).astype(int), 0, n_src - 1)


def layer_maps(image):
    out = model(model.preprocess(image[None].astype(np.float32)))
    return {k: np.asarray(out[k])[0] for k in LAYERS}


def hypercolumn(maps, layers, grid, scales):
    gh, gw = maps[grid].shape[:2]
    parts = []
    for layer in layers:
        f = maps[layer]
        iy = nearest(layer, grid, gh, f.shape[0])
        ix = nearest(layer, grid, gw, f.shape[1])
        parts.append(f[iy][:, ix] / scales[layer])
    return np.concatenate(parts, axis=2)


def fit():
    path = OUT / f"itq_{BITS}.npz"
    if path.is_file():
        return dict(np.load(path, allow_pickle=True))["params"].item()
    rng = np.random.default_rng(0)
    train = list(BSDS500(DATA, split="train"))
    raw = []
    start = time.perf_counter()
    for i, s in enumerate(train):
        maps = layer_maps(s.image)
        raw.append(maps)
        if i % 50 == 0:
            print("train", i, f"{time.perf_counter() - start:.0f}s", flush=True)
    scales = {k: float(np.sqrt(np.mean([np.mean(m[k] ** 2) for m in raw]))) for k in LAYERS}
    print("layer RMS", scales)
    params = {"scales": scales}
    for name, (layers, grid) in VARIANTS.items():
        chunks = []
        for maps in raw:
            h = hypercolumn(maps, layers, grid, scales).reshape(-1, sum(maps[k].shape[2] for k in layers))
            keep = rng.choice(h.shape[0], size=min(600, h.shape[0]), replace=False)
            chunks.append(h[keep])
        x = np.concatenate(chunks)
        result = fit_itq(x, BITS, max_rotation_samples=100_000)
        params[name] = (result.mean, result.projection)
        print(name, x.shape, "bit balance", np.round(result.bit_balance, 2), flush=True)
    np.savez(path, params=np.array(params, dtype=object))
    return params


def eval_maps(dataset, params):
    cache = OUT / f"maps_{dataset}_{BITS}.npz"
    if cache.is_file():
        return np.load(cache, allow_pickle=True)["maps"].tolist()
    data = BSDS500(DATA, split="val") if dataset == "bsds500" else MSRC(DATA)
    maps_out = []
    for s in data:
        maps = layer_maps(s.image)
        entry = {"name": s.name, "seconds": 0.0, "scale": (1.0, 1.0)}
        for name, (layers, grid) in VARIANTS.items():
            mean, projection = params[name]
            h = hypercolumn(maps, layers, grid, params["scales"])
            entry[name] = ((h - mean) @ projection).astype(np.float32)
            entry[f"geometry:{name}"] = feature_geometry("torchvision", grid)
        maps_out.append(entry)
    np.savez(cache, maps=np.array(maps_out, dtype=object))
    return maps_out


def main():
    dataset = sys.argv[1] if len(sys.argv) > 1 else "bsds500"
    params = fit()
    maps = eval_maps(dataset, params)
    samples = ex.load_samples(dataset, DATA, None)
    baselines = Path(f"/tmp/tfbm_explore/{dataset}_{len(samples)}_baselines.npz")
    if not baselines.is_file():
        sys.exit(f"{baselines} is missing: run `python experiments/explore_beyond_paper.py "
                 f"--dataset {dataset}` first (it caches the EGS / SLIC sweeps there)")
    base = np.load(baselines)
    egs = ex.Curve("EGS", ex.EGS_SCALES)
    egs.rows = list(base["egs"])
    prepared = ex.Prepared(samples, maps, **ex.LEAVES)
    weights = [(4.0, 3.0)] + [tuple(map(float, w.split(","))) for w in sys.argv[2:]]
    for name in VARIANTS:
        for wk, wb in weights:
            curve = ex.run_hierarchy(prepared, name, **dict(ex.BEST_WEIGHTS, code=name, w_code=wk, w_boundary=wb),
                                     cuts=ex.MATCH_COUNTS)
            mi, ni, mc, nc = ex.area_between(curve, egs)
            ms, si, sc = curve.points()
            at = {int(round(m)): (a, b) for m, a, b in zip(ms, si, sc)}
            cells = " ".join(f"@{k}:{a:.2f}/{b:.1f}" for k, (a, b) in at.items() if k in (20, 100, 300) or k > 500)
            print(f"| {name} {BITS}b w_code {wk} w_b {wb} | {cells} | {mi:+.2f} / {ni:+.2f} | {mc:+.2f} / {nc:+.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
