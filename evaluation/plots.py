"""The report's figures: precision-recall curves per mode and mAP per query type (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

from evaluation.metrics import RECALL_LEVELS, Scores


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(means: dict[str, Scores | None], path: Path) -> None:
    """mode -> mean scores over all queries; the curve is the 11-point interpolated precision."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for name, scores in means.items():
        if scores is not None:
            axes.plot(RECALL_LEVELS, scores.curve, marker="o", label=f"{name} (mAP {scores.ap:.3f})")
    axes.set(xlabel="recall", ylabel="interpolated precision", xlim=(0, 1), ylim=(0, 1.05),
             title="Precision-recall, mean over queries")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_map_by_type(groups: dict[str, dict[str, tuple[int, Scores | None]]], path: Path) -> None:
    """mode -> query type -> (queries, mean scores): grouped bars of mAP."""
    plt = _pyplot()
    kinds = list(next(iter(groups.values()))) if groups else []
    width = 0.8 / max(1, len(groups))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for number, (name, by_kind) in enumerate(groups.items()):
        values = [scores.ap if (scores := by_kind[kind][1]) else 0.0 for kind in kinds]
        axes.bar([i + number * width for i in range(len(kinds))], values, width, label=name)
    axes.set_xticks([i + width * (len(groups) - 1) / 2 for i in range(len(kinds))],
                    [f"{kind}\n({next(iter(groups.values()))[kind][0]})" for kind in kinds])
    axes.set(ylabel="mAP", ylim=(0, 1.05), title="mAP by query type (number of queries)")
    axes.grid(axis="y", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
