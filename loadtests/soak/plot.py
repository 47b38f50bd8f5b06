"""The soak's series as one PNG: a panel per series, a line per node, node restarts marked."""

from __future__ import annotations

from .trend import SERIES


def plot(result: dict, path: str) -> str | None:
    """Write the PNG; None when matplotlib is missing (the JSON has every sample anyway)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    samples, names = result["samples"], list(SERIES)
    nodes = sorted({s["node"] for s in samples})
    fig, axes = plt.subplots(3, 4, figsize=(20, 11), sharex=True)
    slopes = {(s["node"], s["series"]): s for s in result["slopes"]}
    start = result["config"]["minutes"] - result["fit_window_min"]
    for ax, series in zip(axes.flat, names):
        unit = SERIES[series][0]
        for node in nodes:
            pts = [(s["t_min"], s[series]) for s in samples if s["node"] == node and s.get(series) is not None]
            if not pts:
                continue
            fit = slopes.get((node, series), {})
            slope = fit.get("slope_per_hour")
            label = f"{node} ({slope:+.2f} {unit}/h)" if slope is not None else node
            ax.plot(*zip(*pts), marker=".", linewidth=1, label=label)
        for r in result["restarts"]:
            ax.axvline(r["t_min"], color="grey", linestyle=":", linewidth=1)
        ax.axvspan(start, result["config"]["minutes"], color="yellow", alpha=0.08)
        threshold = SERIES[series][1]
        ax.set_title(f"{series} ({unit})" + (f", threshold {threshold:g} {unit}/h" if threshold != float("inf")
                                              else ", reported"), fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("minutes")
    fig.suptitle(f"Manifest soak: {result['config']['instances']} instances, {result['config']['minutes']:g} min; "
                 f"dotted = node restart, shaded = fit window; verdict {'PASS' if result['pass'] else 'FAIL'}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
