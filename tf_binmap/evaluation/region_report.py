"""Presenting the BSDS region benchmark (`region_sweeps.run_region_benchmark`): the
ODS / OIS table with the parameter each metric's ODS chose, the published BSDS500
*test-split* figures of Arbelaez et al. (TPAMI 2011) beside it, and each sweep's
difference to gPb-owt-ucm's published figures."""

from __future__ import annotations

from collections.abc import Sequence

from tf_binmap.evaluation.methods import format_number

__all__ = ["PUBLISHED_BSDS500_TEST", "format_region_comparison", "format_region_table",
           "format_value"]


#: Published region-benchmark figures on the BSDS500 **test** split (Arbelaez, Maire,
#: Fowlkes, Malik, "Contour Detection and Hierarchical Image Segmentation", TPAMI
#: 2011): covering, PRI and VOI (bits), each as (ODS, OIS); humans: one figure each.
PUBLISHED_BSDS500_TEST = {
    "gPb-owt-ucm": {"covering": (0.59, 0.65), "pri": (0.83, 0.86), "voi": (1.69, 1.48)},
    "Felzenszwalb-Huttenlocher": {"covering": (0.52, 0.57), "pri": (0.80, 0.82),
                                  "voi": (2.21, 1.87)},
    "humans": {"covering": (0.72,), "pri": (0.88,), "voi": (1.17,)},
}

_METRICS = ("covering", "pri", "voi")


def format_value(value) -> str:
    """A sweep parameter for tables: 100, 0.5, -0.00422."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return format_number(value)


def _sweeps(results) -> list[dict]:
    return list(results["sweeps"]) if isinstance(results, dict) else list(results)


def format_region_table(results, published: bool = True) -> str:
    """Markdown: per sweep, covering ODS / OIS / Best, PRI ODS / OIS, VOI ODS / OIS (bits),
    the parameter each metric's ODS chose and the mean segments per image there; with
    `published`, the published BSDS500 test-split rows below, labelled as such."""
    lines = [
        "| method | covering ODS | OIS | Best | PRI ODS | OIS | VOI ODS | OIS "
        "| ODS parameter: covering / PRI / VOI | segments/image there |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sweep in _sweeps(results):
        chosen = " / ".join(format_value(sweep[m]["ods_value"]) for m in _METRICS)
        segments = " / ".join(f"{sweep[m]['ods_segments']:.1f}" for m in _METRICS)
        lines.append(
            f"| {sweep['name']} | {sweep['covering']['ods']:.3f} "
            f"| {sweep['covering']['ois']:.3f} | {sweep['covering']['best']:.3f} "
            f"| {sweep['pri']['ods']:.3f} | {sweep['pri']['ois']:.3f} "
            f"| {sweep['voi']['ods']:.3f} | {sweep['voi']['ois']:.3f} "
            f"| {sweep['parameter']} = {chosen} | {segments} |")
    if published:
        for name, figures in PUBLISHED_BSDS500_TEST.items():
            cells = []
            for metric in _METRICS:
                values = [f"{v:.2f}" for v in figures[metric]]
                values += ["-"] * (2 - len(values))
                cells += values + (["-"] if metric == "covering" else [])
            lines.append(f"| *published, BSDS500 test:* {name} | " + " | ".join(cells)
                         + " | - | - |")
    return "\n".join(lines)


def format_region_comparison(results, reference: str = "gPb-owt-ucm",
                             names: Sequence[str] | None = None) -> str:
    """Markdown: each sweep (or those in `names`) minus `reference`'s published
    test-split figures, for covering, PRI and VOI at ODS and OIS. For VOI lower is
    better, so each cell also says "better" or "worse"."""
    figures = PUBLISHED_BSDS500_TEST[reference]
    lines = [
        f"| method minus {reference} (published, test) | covering ODS | OIS | PRI ODS "
        "| OIS | VOI ODS | OIS |",
        "|---|---|---|---|---|---|---|",
    ]
    for sweep in _sweeps(results):
        if names is not None and sweep["name"] not in names:
            continue
        cells = []
        for metric in _METRICS:
            for ours, theirs in zip((sweep[metric]["ods"], sweep[metric]["ois"]),
                                    figures[metric]):
                difference = ours - theirs
                better = difference > 0 if metric != "voi" else difference < 0
                verdict = "equal" if abs(difference) < 5e-4 else ("better" if better
                                                                  else "worse")
                cells.append(f"{difference:+.3f} ({verdict})")
        lines.append(f"| {sweep['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
