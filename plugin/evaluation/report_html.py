"""The evaluation report's files: figures.json, one PNG per plot, and a self-contained HTML page.

The plots are drawn with matplotlib's object API (no pyplot, no global state, no display)
and embedded in the page as base64 data URIs, so report.html can be mailed on its own; the
same PNGs are written next to it.
"""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.figure import Figure

TEMPLATES = Path(__file__).resolve().parent / "templates"
COLOURS = {"answer": "#2b6cb0", "flag": "#c05621", "nudge": "#6b46c1", "brief": "#2f855a",
           "summarize": "#b7791f", "record_feedback": "#718096"}
LIGHT = {"answer": "#90cdf4", "flag": "#fbd38d"}


def write_files(out: Path, figures: dict[str, Any], summary: list[str]) -> tuple[Path, Path, list[Path]]:
    """Write figures.json, the PNGs and report.html into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    data = out / "figures.json"
    data.write_text(json.dumps(figures, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    images, paths = {}, []
    for name, draw in PLOTS.items():
        png = _png(draw, figures)
        (out / f"{name}.png").write_bytes(png)
        paths.append(out / f"{name}.png")
        images[name] = base64.b64encode(png).decode("ascii")
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.filters["num"] = lambda v: "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else v)
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.0%}"
    html = out / "report.html"
    html.write_text(env.get_template("report.html").render(f=figures, summary=summary, images=images),
                    encoding="utf-8")
    return html, data, paths


def _png(draw: Callable[[Figure, dict[str, Any]], None], figures: dict[str, Any]) -> bytes:
    fig = Figure(figsize=(8, 4.2), dpi=100, layout="constrained")
    draw(fig, figures)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _value(v: float | None) -> float:
    return math.nan if v is None else v


def _label_bars(ax, bars, values) -> None:
    ax.bar_label(bars, labels=["n/a" if v is None else f"{v:.2f}" for v in values], fontsize=7, padding=2)


# --- one function per plot: (figure, figures.json) -> drawn ---------------------------------

def decisions(fig: Figure, f: dict[str, Any]) -> None:
    ax = fig.subplots()
    sets = list(f["decisions"])
    width = 0.2
    series = [(a, m) for a in ("answer", "flag") for m in ("precision", "recall")]
    for i, (action, metric) in enumerate(series):
        values = [f["decisions"][s]["scores"][action][metric] for s in sets]
        bars = ax.bar([x + (i - 1.5) * width for x in range(len(sets))], [_value(v) for v in values], width,
                      label=f"{action} {metric}",
                      color=COLOURS[action] if metric == "precision" else LIGHT[action])
        _label_bars(ax, bars, values)
    ax.set_xticks(range(len(sets)), [f"{s}\n({f['decisions'][s]['messages']} messages)" for s in sets])
    ax.set_ylim(0, 1.12)
    ax.axhline(0.9, color="#999", linestyle=":", linewidth=1)
    ax.set_ylabel("precision / recall")
    ax.set_title("Decisions on the labelled sets (dotted: the 0.9 precision target)")
    ax.legend(loc="lower right", fontsize=8, ncols=2)


def calibration(fig: Figure, f: dict[str, Any]) -> None:
    """The calibration curve of the answer confidence in force: predicted against observed."""
    ax = fig.subplots()
    curves = f["calibration"]["provenance"].get("calibration", {})
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1, label="perfectly calibrated")
    for (part, by_source), marker in zip(curves.items(), ("o-", "s--")):
        for name, c in by_source.items():
            points = c["curve"]
            ax.plot([p["predicted"] for p in points], [p["observed"] for p in points], marker, markersize=4,
                    label=f"{name} {part} ({c['rows']} answers)")
    embedded = f["calibration"].get("embeddings", {}).get("provenance", {}).get("calibration", {})
    for name, c in embedded.get("report", {}).items():  # the model used when hits carry a cosine
        points = c["curve"]
        ax.plot([p["predicted"] for p in points], [p["observed"] for p in points], "^:", markersize=4,
                label=f"{name} report, with embeddings ({c['rows']} answers)")
    for t in f["calibration"]["in_force"]:
        ax.axvline(t, color="#2f855a", linewidth=1.5, label=f"the rules' threshold {t}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("answer_confidence (mean in each tenth)")
    ax.set_ylabel("share of those answers citing a right entry first")
    ax.set_title("Calibration of the answer confidence (dev: fitted on; report: never fitted on)")
    ax.legend(loc="upper left", fontsize=7)


def grounding(fig: Figure, f: dict[str, Any]) -> None:
    ax = fig.subplots()
    g = f["grounding"]
    rows = sorted(((c, s) for c, s in g["by_company"].items() if s["in_kb"]), key=lambda r: r[1]["in_kb"])
    rows.append(("All companies", g))
    fig.set_size_inches(8, max(4.2, 0.3 * len(rows) + 1.4))
    y = range(len(rows))
    for offset, key, colour in ((-0.2, "hit_at_1", LIGHT["answer"]), (0.2, "hit_at_3", COLOURS["answer"])):
        bars = ax.barh([i + offset for i in y], [_value(s[key]) for _, s in rows], 0.4, color=colour,
                       label=key.replace("_at_", "@"))
        _label_bars(ax, bars, [s[key] for _, s in rows])
    ax.set_yticks(list(y), [f"{c} ({s['in_kb']})" for c, s in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of conversations whose document the knowledge base has")
    ax.set_title("Grounding on customer care: the note cites the document the agent linked")
    ax.legend(loc="lower right", fontsize=8)


def learning_curve(fig: Figure, f: dict[str, Any]) -> None:
    ax = fig.subplots()
    points = f["learning_curve"]["points"]
    x = [100 * p["fraction"] for p in points]
    hit3 = [_value(p["hit_at_3"]) for p in points]
    ax.plot(x, hit3, "o-", color=COLOURS["answer"], label="hit@3")
    ax.plot(x, [_value(p["hit_at_1"]) for p in points], "s--", color=LIGHT["answer"], label="hit@1")
    for p, xi, yi in zip(points, x, hit3):
        ax.annotate(f"{p['knowledge_entries']} entries", (xi, 0 if math.isnan(yi) else yi),
                    textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7)
    top = max([v for v in hit3 if not math.isnan(v)], default=0)
    ax.set_ylim(0, min(1.0, max(0.2, top * 1.4)))
    ax.set_xticks(x, [f"{v:g} %" for v in x])
    ax.set_xlabel("customer-care conversations learned (oldest first)")
    ax.set_ylabel("hit@3")
    ax.set_title(f"Learning curve on the later conversations ({f['learning_curve']['in_kb']} scored)")
    ax.legend(loc="upper left", fontsize=8)


def helpdesk_notes(fig: Figure, f: dict[str, Any]) -> None:
    ax = fig.subplots()
    dist = {int(k): v for k, v in f["helpdesk"]["notes_per_ticket"].items()}
    xs = list(range(max(dist, default=0) + 1))
    bars = ax.bar(xs, [dist.get(x, 0) for x in xs], color=COLOURS["answer"])
    ax.bar_label(bars, fontsize=7, padding=2)
    ax.set_xticks(xs)
    ax.set_xlabel("notes drafted on the ticket")
    ax.set_ylabel("tickets")
    ax.set_title(f"Notes per ticket, {f['helpdesk']['tickets']} real help-desk tickets replayed")


def helpdesk_rules(fig: Figure, f: dict[str, Any]) -> None:
    ax = fig.subplots()
    rows = list(reversed(f["helpdesk"]["rules"]))
    if not rows:
        ax.text(0.5, 0.5, "no rule fired", ha="center", va="center")
        ax.set_axis_off()
        return
    fig.set_size_inches(8, max(3.0, 0.3 * len(rows) + 1.2))
    bars = ax.barh(range(len(rows)), [r["count"] for r in rows],
                   color=[COLOURS.get(r["action"], "#4a5568") for r in rows])
    ax.bar_label(bars, fontsize=7, padding=2)
    ax.set_yticks(range(len(rows)), [f"{r['rule']} ({r['action']})" for r in rows], fontsize=8)
    ax.set_xlabel("decisions taken")
    ax.set_title("What fired on the help-desk tickets, by rule")


PLOTS: dict[str, Callable[[Figure, dict[str, Any]], None]] = {
    "decisions": decisions, "calibration": calibration, "grounding": grounding,
    "learning_curve": learning_curve, "helpdesk_notes": helpdesk_notes, "helpdesk_rules": helpdesk_rules,
}
