"""Reports: JSON with every figure, a side-by-side contact sheet, metric plots, and one
self-contained HTML page (images inlined) that shows them with the comparison table."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import OutputError
from .matching import ClipObservations

TABLE_KEYS = ("reid_rate", "reid_rate_lbp", "leak_rate", "identity_distance", "retention",
              "pose_error_deg", "expression_corr", "flicker", "id_stability", "id_switches",
              "sharpness_ratio", "seam_ratio", "collateral", "fps")
PLOT_KEYS = ("reid_rate", "leak_rate", "identity_distance", "retention", "pose_error_deg",
             "expression_corr", "flicker", "id_stability", "sharpness_ratio", "collateral")
RATE_KEYS = ("reid_rate", "reid_rate_lbp", "leak_rate", "retention", "id_stability")
BETTER = {"reid_rate": "lower", "reid_rate_lbp": "lower", "leak_rate": "lower",
          "identity_distance": "higher", "retention": "higher", "pose_error_deg": "lower",
          "expression_corr": "higher", "flicker": "near 1", "id_stability": "higher",
          "id_switches": "lower", "sharpness_ratio": "near 1", "seam_ratio": "near 1", "collateral": "lower",
          "fps": "higher"}


def to_jsonable(obj: Any) -> Any:
    """Plain JSON data: numpy scalars and arrays unpacked, NaN and inf as null."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(data: dict, path: str | Path) -> None:
    try:
        Path(path).write_text(json.dumps(to_jsonable(data), indent=1, allow_nan=False))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _label(image: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, image.shape[1], 3), 255, np.uint8)
    colour = (200, 0, 0) if text.endswith("LEAK") else (0, 0, 0)
    cv2.putText(bar, text[: max(4, image.shape[1] // 8)], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                colour, 1, cv2.LINE_AA)
    return np.vstack([bar, image])


def _fit(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def _pad_rows(cells: list[np.ndarray], gap: int = 4) -> np.ndarray:
    height = max(c.shape[0] for c in cells)
    padded = [np.pad(c, ((0, height - c.shape[0]), (0, gap), (0, 0)), constant_values=255) for c in cells]
    return np.hstack(padded)


def _stack(rows: list[np.ndarray], gap: int = 4) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    return np.vstack([np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=255)
                      for r in rows])


def _mark(thumb: np.ndarray, boxes: list, frame_width: int) -> np.ndarray:
    """Red rectangles (frame coordinates) on a thumbnail."""
    if not boxes:
        return thumb
    out, k = thumb.copy(), thumb.shape[1] / float(frame_width)
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(out, (int(x0 * k) - 2, int(y0 * k) - 2), (int(x1 * k) + 2, int(y1 * k) + 2), (230, 0, 0), 2)
    return out


def contact_sheet(columns: dict[str, ClipObservations], moments: int = 4, width: int = 320,
                  chips_per_moment: int = 3) -> np.ndarray | None:
    """RGB sheet: for ``moments`` frames spread over the clip (and the first leak of each
    column), a row of whole frames (original, then each column; leaking faces boxed in red)
    and beneath it a row of face close-ups, leaking faces first."""
    first = next(iter(columns.values()))
    common = set(t[0] for t in first.thumbnails)
    for obs in columns.values():
        common &= {t[0] for t in obs.thumbnails}
    frames = sorted(common)
    if not frames:
        return None
    picks = [frames[i] for i in sorted(set(np.linspace(0, len(frames) - 1, min(moments, len(frames))).astype(int)))]
    leaks = {name: {f.frame: f for f in obs.sampled if f.leak and f.frame in common} for name, obs in columns.items()}
    picks = sorted(set(picks) | {min(v) for v in leaks.values() if v})
    rows = []
    for frame in picks:
        cells = [_label(_fit(dict((t[0], t[1]) for t in first.thumbnails)[frame], width), f"original  frame {frame}")]
        for name, obs in columns.items():
            leak = leaks[name].get(frame)
            thumb = dict((t[0], t[2]) for t in obs.thumbnails)[frame]
            thumb = _mark(thumb, leak.leak_boxes if leak else [], obs.width)
            cells.append(_label(_fit(thumb, width), f"{name}  LEAK" if leak else name))
        rows.append(_pad_rows(cells))
        leaking = set()
        for leak in (v.get(frame) for v in leaks.values()):
            leaking |= set(leak.leak_tracks) if leak else set()
        chip_cells = []
        for col, obs in enumerate([first] + list(columns.values())):
            faces = sorted((f for f in obs.faces if f.frame == frame and f.chips is not None),
                           key=lambda f: (f.track_id not in leaking, -f.rect[2] + f.rect[0]))[:chips_per_moment]
            if not faces:
                continue
            chips = [f.chips[0] if col == 0 else f.chips[1] for f in faces]
            size = min(width // max(1, len(chips)) - 2, 120)
            cell = _pad_rows([cv2.resize(c, (size, size)) for c in chips], 2)[:, :width]
            chip_cells.append(np.pad(cell, ((0, 0), (0, width - cell.shape[1]), (0, 0)), constant_values=255))
        if chip_cells:
            rows.append(_pad_rows(chip_cells))
    return _stack(rows, 8)


def png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OutputError("PNG encoding failed")
    return buf.tobytes()


def write_png(image: np.ndarray, path: str | Path) -> None:
    try:
        Path(path).write_bytes(png_bytes(image))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def metric_plots(rows: list[dict]) -> bytes:
    """PNG of one bar chart per metric: clips on the x axis, one bar per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = list(dict.fromkeys(r["clip"] for r in rows))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    ncol = 3
    nrow = math.ceil(len(PLOT_KEYS) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, 3.2 * nrow), squeeze=False)
    x = np.arange(len(clips))
    bar = 0.8 / max(1, len(modes))
    for ax, key in zip(axes.ravel(), PLOT_KEYS):
        for i, mode in enumerate(modes):
            values = []
            for clip in clips:
                v = next((r["summary"].get(key) for r in rows if r["clip"] == clip and r["mode"] == mode), None)
                values.append(np.nan if v is None else v)
            ax.bar(x + i * bar - 0.4 + bar / 2, values, bar, label=mode)
        ax.set_title(f"{key} ({BETTER.get(key, '')} is better)", fontsize=9)
        if key in RATE_KEYS:
            ax.set_ylim(0, 1.05)
        if BETTER.get(key) == "near 1":  # ratios span decades (noise flickers 10x): log scale
            ax.set_yscale("symlog", linthresh=0.1)
            ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xticks(x)
        ax.set_xticklabels([c[:14] for c in clips], rotation=30, ha="right", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes.ravel()[len(PLOT_KEYS):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return html.escape(str(v))


def table_rows(rows: list[dict], keys: tuple[str, ...] = TABLE_KEYS) -> tuple[list[str], list[list[str]]]:
    header = ["clip", "mode"] + list(keys)
    return header, [[r["clip"], r["mode"]] + [_fmt(r["summary"].get(k)) for k in keys] for r in rows]


def markdown_table(rows: list[dict], keys: tuple[str, ...] = TABLE_KEYS) -> str:
    header, body = table_rows(rows, keys)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(b) + " |" for b in body]
    return "\n".join(lines)


def write_html(path: str | Path, title: str, rows: list[dict], sheets: dict[str, bytes],
               plots: bytes | None, notes: str = "", tracks: dict[str, dict] | None = None) -> None:
    header, body = table_rows(rows)
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td:first-child,td:nth-child(2)"
             "{text-align:left}img{max-width:100%;border:1px solid #ddd}</style>",
             f"<h1>{html.escape(title)}</h1>", f"<p>{notes}</p>" if notes else "",
             "<h2>Summary</h2><p>Definitions: docs/metrics.md. Rates are fractions 0..1; "
             "‘–’ means not measurable.</p><table><tr>"
             + "".join(f"<th>{html.escape(h)}<br><small>{BETTER.get(h, '')}</small></th>" for h in header)
             + "</tr>" + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in b) + "</tr>" for b in body)
             + "</table>"]
    if tracks:
        keys = list(dict.fromkeys(k for t in tracks.values() for k in t))
        parts.append("<h2>Tracks</h2><table><tr><th>track</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys)
                     + "</tr>" + "".join(f"<tr><td>{html.escape(tid)}</td>" + "".join(f"<td>{_fmt(t.get(k))}</td>"
                                                                                    for k in keys) + "</tr>"
                                         for tid, t in tracks.items()) + "</table>")
    for name, png in sheets.items():
        parts.append(f"<h2>Contact sheet: {html.escape(name)}</h2>"
                     f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    if plots:
        parts.append("<h2>Metrics per clip and mode</h2>"
                     f"<img src='data:image/png;base64,{base64.b64encode(plots).decode()}'>")
    try:
        Path(path).write_text("\n".join(parts))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
