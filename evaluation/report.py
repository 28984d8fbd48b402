"""The evaluation as a terminal table, a JSON file and a Markdown report (with the plots beside it)."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.metrics import METRICS, RECALL_LEVELS, Scores
from evaluation.plots import plot_map_by_type, plot_pr_curves
from evaluation.runner import ALL, DEPTH, ChannelResult, Evaluation

PR_CURVE = "pr_curve.png"
MAP_BY_TYPE = "map_by_type.png"


def labels(k: int, mean: bool = True) -> dict[str, str]:
    """Column names of the metrics: means over queries (mAP, MRR) or one query's (AP, RR)."""
    return {"precision": f"P@{k}", "recall": f"R@{k}", "f1": f"F1@{k}", "ap": "mAP" if mean else "AP",
            "rr": "MRR" if mean else "RR", "ndcg": f"nDCG@{k}"}


def summary_rows(evaluation: Evaluation) -> list[list[str]]:
    """Header, then one row per query type and mode, side by side; "all" last."""
    rows = [["type", "mode", "queries", *labels(evaluation.k).values()]]
    groups = {c.channel.name: c.groups() for c in evaluation.channels}
    kinds = list(next(iter(groups.values()))) if groups else []
    for kind in kinds:
        for name, by_kind in groups.items():
            count, scores = by_kind[kind]
            rows.append([kind, name, str(count), *_cells(scores)])
    return rows


def terminal_table(evaluation: Evaluation) -> str:
    rows = summary_rows(evaluation)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_report(evaluation: Evaluation, out: Path, source: str) -> list[Path]:
    """metrics.json, report.md and the two plots in the folder out; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    groups = {c.channel.name: c.groups() for c in evaluation.channels}
    plot_pr_curves({name: by_kind[ALL][1] for name, by_kind in groups.items()}, out / PR_CURVE)
    plot_map_by_type(groups, out / MAP_BY_TYPE)
    (out / "metrics.json").write_text(json.dumps(to_json(evaluation, source), indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    (out / "report.md").write_text(markdown(evaluation, source), encoding="utf-8")
    return [out / "report.md", out / "metrics.json", out / PR_CURVE, out / MAP_BY_TYPE]


def to_json(evaluation: Evaluation, source: str) -> dict:
    k = evaluation.k
    means, each = labels(k), labels(k, mean=False)
    return {
        "queries_file": source,
        "k": k,
        "depth": DEPTH,
        "store": evaluation.store,
        "collection_model": evaluation.model,
        "points": evaluation.points,
        "notes": evaluation.notes,
        "relevant_files_not_indexed": evaluation.not_indexed,
        "queries_without_relevant_files": evaluation.unjudged,
        "modes": {c.channel.name: _channel_json(c, means, each) for c in evaluation.channels},
    }


def _channel_json(channel: ChannelResult, means: dict[str, str], each: dict[str, str]) -> dict:
    groups = channel.groups()
    overall = groups[ALL][1]
    return {
        "groups": {kind: {"queries": count, **_named(scores, means)} for kind, (count, scores) in groups.items()},
        "pr_curve": {"recall": list(RECALL_LEVELS), "precision": list(overall.curve) if overall else None},
        "queries": [
            {"id": r.query.id, "type": r.query.type, "query": r.query.text, "relevant": len(r.query.relevant),
             **_named(r.scores, each), "top": [{"path": path, "relevant": hit} for path, hit in r.top]}
            for r in channel.queries
        ],
    }


def markdown(evaluation: Evaluation, source: str) -> str:
    k = evaluation.k
    lines = [
        "# Search evaluation",
        "",
        f"Queries: `{source}`. Collection: {evaluation.points} images in {evaluation.store}, image model "
        f"`{evaluation.model or 'none (text only)'}`. @{k} metrics over the first {k} results; AP, RR and the "
        f"precision-recall curve over the first {DEPTH} (the search's depth). Means are over the queries "
        "that have relevant files.",
        "",
    ]
    lines += [f"> {note}" for note in evaluation.notes] + ([""] if evaluation.notes else [])
    if evaluation.not_indexed:
        lines += [f"Relevant files not in the index (never found, counted as missed): "
                  f"{', '.join(f'`{f}`' for f in evaluation.not_indexed)}.", ""]
    if evaluation.unjudged:
        lines += [f"Queries with no relevant file (left out of the means): {', '.join(evaluation.unjudged)}.", ""]
    lines += ["## By query type", ""] + _markdown_table(summary_rows(evaluation)) + [""]
    lines += [f"![Precision-recall curves]({PR_CURVE})", "", f"![mAP by query type]({MAP_BY_TYPE})", ""]
    for channel in evaluation.channels:
        rows = [["id", "type", "query", "relevant", *labels(k, mean=False).values(), "first results (✓ relevant)"]]
        for r in channel.queries:
            first = ", ".join(f"{'✓' if hit else '✗'} {path.rpartition('/')[2]}" for path, hit in r.top[:3])
            rows.append([r.query.id, r.query.type, r.query.text.replace("|", "\\|"), str(len(r.query.relevant)),
                         *_cells(r.scores), first])
        lines += [f"## Queries, mode '{channel.channel.name}'", ""] + _markdown_table(rows) + [""]
    return "\n".join(lines)


def _markdown_table(rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])] + [
        "| " + " | ".join(row) + " |" for row in rows[1:]
    ]


def _cells(scores: Scores | None) -> list[str]:
    return [f"{getattr(scores, name):.3f}" if scores else "—" for name in METRICS]


def _named(scores: Scores | None, names: dict[str, str]) -> dict[str, float | None]:
    return {names[name]: getattr(scores, name) if scores else None for name in METRICS}
