"""``occgen report``: one self-contained HTML page about a store or a mix (plots and thumbnails embedded as data
URIs, CSS and JavaScript inline; it works offline from a file URL).

Where it sits: :mod:`occgen.cli.report` -> :func:`write_report` -> :mod:`occgen.run.report_stats` (the numbers)
and matplotlib (the plots, the ``report`` extra). The numbers are also embedded as JSON in
``<script type="application/json" id="occgen-report-data">`` for tests and scripts; the thumbnails are in
``id="occgen-report-thumbs"`` ({sample index: data URI}). The audit section (:mod:`occgen.run.report_audit`; not
with ``--no-audit``) is the ``audit`` key of the numbers, its worst samples' tiles are inline images.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from occgen import __version__
from occgen.core.errors import ConfigError
from occgen.core.location import Location, parse_location
from occgen.run.audit import MEASURES
from occgen.run.report_audit import audit_numbers, audit_thumbs
from occgen.run.report_page import PAGE_TEMPLATE
from occgen.run.report_stats import ArrayFacts, ReportSettings, summarise
from occgen.store import open_store
from occgen.store.dataset import Dataset

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GALLERY_PAGE = 24


def require_matplotlib() -> None:
    """Raise a one-line error naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("occgen report draws its plots with matplotlib: pip install 'occgen[report]'") from None


def figure(width_in: float = 5.2, height_in: float = 2.9) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def png_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def bar_histogram(edges: list[float], series: dict[str, list[int]], xlabel: str, percent: bool) -> str:
    """Stacked bars of ``series`` ({label: counts per bin}) over the bins ``edges``."""
    fig = figure()
    axes = fig.add_subplot()
    left = np.asarray(edges[:-1]) * (100 if percent else 1)
    width = float(np.diff(edges)[0]) * (100 if percent else 1)
    bottom = np.zeros(len(left))
    for label, counts in series.items():
        axes.bar(left, counts, width=width, bottom=bottom, align="edge", label=label, edgecolor="white", linewidth=0.5)
        bottom += np.asarray(counts)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("samples")
    if len(series) > 1:
        axes.legend(fontsize="small")
    return png_uri(fig)


def heat_map(pixels: ArrayFacts, count: int) -> str:
    """Mean occluder alpha per pixel, with the outline where the visible face is present in half the samples."""
    fig = figure(5.2, 3.6)
    axes = fig.add_subplot()
    if pixels.alpha_sum is None or pixels.face_sum is None or count == 0:
        axes.text(0.5, 0.5, "no arrays read", ha="center", va="center")
        return png_uri(fig)
    shown = axes.imshow(pixels.alpha_sum / (255.0 * count), cmap="inferno", vmin=0.0, interpolation="nearest")
    face = pixels.face_sum / count
    if face.min() < 0.5 < face.max():
        axes.contour(face, levels=[0.5], colors=["#39ff14"], linewidths=1.0)
    axes.set_axis_off()
    fig.colorbar(shown, ax=axes, label="mean occluder alpha")
    return png_uri(fig)


def audit_histograms(audit: dict[str, Any]) -> str:
    """One panel per measure with values: its histogram (:func:`occgen.run.report_audit.measure_histogram`) and
    its threshold as a red line."""
    shown = [m for m in MEASURES if audit["measures"][m.name]["measured"]]
    columns = 4
    rows = max(1, -(-len(shown) // columns))
    fig = figure(10.4, 2.3 * rows)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for panel, measure in zip(axes, shown, strict=False):
        histogram = audit["histograms"][measure.name]
        edges = np.asarray(histogram["edges"])
        panel.bar(edges[:-1], histogram["counts"], width=float(np.diff(edges)[0]), align="edge", color="#4c72b0")
        panel.axvline(float(audit["thresholds"][measure.threshold]), color="#d62728", linewidth=1.2)
        panel.set_title(f"{measure.name} (bad {measure.bad})", fontsize="small")
        panel.tick_params(labelsize="x-small")
    for panel in axes[len(shown) :]:
        panel.set_axis_off()
    return png_uri(fig)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def audit_section(audit: dict[str, Any] | None, thumbs: dict[int, str]) -> str:
    """The audit section's HTML: which samples, a table of the measures (threshold, count beyond, percentiles),
    the histograms, and per measure its worst samples (tile, id, value; red when beyond the threshold)."""
    if audit is None:
        return ""
    which = ("every sample" if audit["all"] else
             f"{audit['samples']} of {audit['of']} samples picked at random (seed {audit['seed']})")  # fmt: skip
    table = []
    for measure in MEASURES:
        entry = audit["measures"][measure.name]
        stats = entry["distribution"]
        table.append([measure.name, entry["title"], f"{measure.bad} {entry['threshold']['value']:g}",
                      entry["beyond"], entry["measured"], _number(stats["p5"]), _number(stats["p50"]),
                      _number(stats["p95"]), _number(stats["max"])])  # fmt: skip
    header = ("measure", "what", "bad when", "beyond", "measured", "p5", "median", "p95", "max")
    worst = []
    for measure in MEASURES:
        entries = audit["worst"][measure.name]
        entry = audit["measures"][measure.name]
        why = "" if entries else f" no values ({entry.get('unavailable') or 'needs ' + entry['needs']})"
        tiles = "".join(
            f'<figure class="tile audit-tile" data-sample-id="{html.escape(e["id"])}"><img alt="" '
            f'src="{thumbs[e["index"]]}"><figcaption>{html.escape(e["id"])} · <span class="'
            f'{"beyond" if e["beyond"] else ""}">{e["value"]:.4g}</span></figcaption></figure>'
            for e in entries
        )  # fmt: skip
        heading = f"{measure.name}: {entry['beyond']} of {entry['measured']} beyond{why}"
        worst.append(f'<h3>{html.escape(heading)}</h3><div class="tiles" data-measure="{measure.name}">{tiles}</div>')
    plot = audit_histograms(audit) if any(audit["measures"][m.name]["measured"] for m in MEASURES) else None
    return (
        '<section id="audit">\n<h2>Audit</h2>\n'
        f'<p class="note">The per-sample measures of <code>occgen audit</code> (docs/audit.md) over {which}, with '
        "its default thresholds: occluder holes and pieces, sharpness against the face, colour distance to the face "
        "around it, soft-edge width relative to the face, share of the face covered, occluder pixels that look like "
        "the clean face. Run <code>occgen audit</code> for every sample, a CSV and other thresholds. Each tile: the "
        "image beside the occluder's alpha (grey, holes in red).</p>\n"
        f"{_table(table, header, 'audit-table')}\n"
        + (f'<img class="plot" alt="audit measure histograms" src="{plot}">\n' if plot else "")
        + "".join(worst)
        + "\n</section>"
    )


def _json_script(element_id: str, value: Any) -> str:
    # "<" escaped as \u003c: no "</script>" or "<!--" inside the block, and still valid JSON.
    text = json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _table(rows: list[list[Any]], header: tuple[str, ...], css: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def card_rows(dataset: Dataset) -> list[list[Any]]:
    card = dataset.card
    stores = [part for part in dataset.parts if part.reader is not dataset]
    codecs = dict.fromkeys(str(part.reader.card.get("image_codec") or "zstd") for part in dataset.parts)
    return [
        ["dataset", str(dataset.path)], ["kind", "mix" if stores else "store"],
        ["recipe(s)", ", ".join(dataset.recipes())], ["samples", len(dataset)], ["size", f"{dataset.size} px"],
        ["seed", card.get("seed")], ["occgen version (made by)", card.get("occgen_version")],
        ["image codec", ", ".join(codecs)], ["report made by", f"occgen {__version__}"],
    ]  # fmt: skip


def source_rows(dataset: Dataset) -> list[list[Any]]:
    rows = []
    for part in dataset.parts:
        prefix = f"{part.name} " if part.reader is not dataset else ""
        for name, source in part.reader.card.get("sources", {}).items():
            rows.append([prefix + name, source.get("kind"), source.get("count"), source.get("fingerprint"),
                         source.get("licence")])  # fmt: skip
    return rows


def _tiles(entries: list[dict[str, Any]], thumbs: dict[int, str]) -> str:
    out = []
    for e in entries:
        caption = f"{e['id']} · {', '.join(e['types'])} · coverage {_percent(e['coverage'])}"
        out.append(f'<figure class="tile" data-sample-id="{html.escape(e["id"])}"><img alt="" '
                   f'src="{thumbs[e["index"]]}"><figcaption>{html.escape(caption)}</figcaption></figure>')  # fmt: skip
    return "".join(out)


def render_page(
    dataset: Dataset, summary: dict[str, Any], pixels: ArrayFacts, seconds: float,
    audit_tiles: dict[int, str] | None = None,
) -> str:  # fmt: skip
    """The whole HTML page (the audit section from ``summary["audit"]`` and its tiles, when there)."""
    coverage, arrays = summary["coverage"], summary["arrays"]
    series = coverage["by_type"] if coverage["by_type"] else {"all": coverage["counts"]}
    shown_area = (
        "every sample's" if arrays["all"] else f"{arrays['samples']} of {arrays['of']} samples' (seed {arrays['seed']})"
    )
    check = arrays["coverage_check"]
    delta = arrays["delta_e"]
    types = [name for name, _ in summary["occluder_types"]]
    faces = summary["faces"]
    values = {
        "title": html.escape(f"occgen report: {Path(str(dataset.path)).name}"),
        "card": _table(card_rows(dataset), ("", ""), "card"),
        "sources": _table(source_rows(dataset), ("source", "kind", "count", "fingerprint", "licence")),
        "card_json": html.escape(json.dumps(dataset.card, indent=2, default=str)),
        "recipes": _table(summary["recipes"], ("recipe", "samples")),
        "parts": _table(summary["parts"], ("store", "samples")),
        "types": _table(summary["occluder_types"], ("occluder type", "samples")),
        "per_sample": _table(summary["occluders_per_sample"], ("occluders in a sample", "samples")),
        "faces": _table(faces["top"], ("face", "samples")),
        "faces_line": f"{faces['distinct']} distinct faces; samples per face: min {faces['min']}, "
        f"median {faces['median']:g}, max {faces['max']} (top 20 below).",
        "coverage_plot": bar_histogram(coverage["edges"], series, "occluder coverage of the face (%)", True),
        "coverage_line": f"{coverage['samples']} samples (every sample with face_px_before/after; "
        f"{coverage['without_metadata']} without): mean {_percent(coverage['mean'])}, "
        f"median {_percent(coverage['median'])}; {coverage['outside_0_1']} outside 0–100 % (in no bin).",
        "check_line": f"Checked against the arrays for {check['checked']} sampled samples: face_mask holds "
        f"face_px_after pixels in {check['agree']} of them (largest difference "
        f"{check['max_abs_difference_px']} px).",
        "arrays_line": f"Computed from {shown_area} arrays.",
        "area_plot": bar_histogram(
            arrays["area"]["edges"],
            {"all": arrays["area"]["counts"]},
            "occluder area (% of the image with occluder_mask > 0)",
            True,
        ),
        "area_line": f"mean {_percent(arrays['area']['mean'])} of the image.",
        "heat_plot": heat_map(pixels, arrays["samples"]),
        "delta_plot": '<img class="plot" alt="colour distance histogram" src="{}">'.format(
            bar_histogram(delta["edges"], {"hand samples": delta["counts"]}, "ΔE76 hand ↔ visible skin (CIELAB)", False)
        )
        if delta["samples"]
        else "",
        "delta_line": (
            f"{delta['samples']} of {delta['hand_samples']} sampled hand samples measured: mean ΔE "
            f"{delta['mean']:.1f}, median {delta['median']:.1f}."
            if delta["samples"]
            else "No hand samples among the sampled arrays: nothing to measure."
        ),
        "most": _tiles(summary["most_covered"], pixels.thumbs),
        "least": _tiles(summary["least_covered"], pixels.thumbs),
        "type_options": "".join(f'<option value="{html.escape(t)}">{html.escape(t)}</option>' for t in types),
        "gallery_line": f"{len(summary['gallery'])} samples picked at random (seed {arrays['seed']}) of "
        f"{summary['n']}; {GALLERY_PAGE} per page.",
        "data": _json_script("occgen-report-data", summary),
        "thumbs": _json_script("occgen-report-thumbs", {str(k): v for k, v in sorted(pixels.thumbs.items())}),
        "page_size": str(GALLERY_PAGE),
        "audit": audit_section(summary.get("audit"), audit_tiles or {}),
        "audit_nav": '<a href="#audit">audit</a>' if summary.get("audit") else "",
        "footer": html.escape(f"occgen {__version__} · made in {seconds:.1f} s"),
    }
    # One pass over the template: a value that happens to contain "{{name}}" is never expanded again.
    return re.sub(r"\{\{(\w+)\}\}", lambda match: values[match.group(1)], PAGE_TEMPLATE)


@dataclass(frozen=True)
class ReportResult:
    out: Path | str
    samples: int
    seconds: float


def write_report(store: Path | str | Location, out: Path | str | Location, settings: ReportSettings) -> ReportResult:
    """Write the report page of the store or mix ``store`` to ``out`` (a path or URL)."""
    require_matplotlib()
    started = time.perf_counter()
    dataset = open_store(store)
    summary, pixels, facts = summarise(dataset, settings)
    summary["audit"] = audit_numbers(dataset, facts, pixels.audit, settings) if settings.audit else None
    tiles = audit_thumbs(dataset, summary["audit"]) if summary["audit"] else {}
    page = render_page(dataset, summary, pixels, time.perf_counter() - started, tiles)
    target = parse_location(out, dataset.location.storage_options or None)
    if target.is_local:
        target.path.parent.mkdir(parents=True, exist_ok=True)
        target.path.write_text(page, encoding="utf-8")
        return ReportResult(target.path, len(dataset), time.perf_counter() - started)
    target.write_bytes(page.encode("utf-8"))
    return ReportResult(target.url, len(dataset), time.perf_counter() - started)
