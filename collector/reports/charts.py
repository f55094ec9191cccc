"""Inline SVG charts, rendered on the server: no chart library, no network, no JavaScript.
Shared by the dashboard and the emailed HTML report."""

from __future__ import annotations

from html import escape

__all__ = ["line_chart"]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    step = 10 ** (len(str(int(value))) - 1)
    return float(-(-value // step) * step)


def line_chart(
    labels: list[str],
    series: list[tuple[str, list[float | None], str]],
    width: int = 720,
    height: int = 220,
    title: str = "",
    partial: int | None = None,
    whole: tuple[str, ...] = (),
) -> str:
    """One SVG with a polyline per series (name, values, CSS colour); None is a gap (a suppressed
    bucket), drawn as a break in the line. The SVG stretches to its container; the axis labels
    are HTML around it, so their text keeps its size on a phone instead of shrinking with it.
    ``partial``: the index of the bucket still filling (now is in it): the line to it is dashed,
    and the buckets after it, still to come, are not drawn; the series named in ``whole`` (a
    previous period) are drawn in full."""
    pad_left, pad_right, pad_top, pad_bottom = 0, 0, 6, 6
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    top = _nice_max(max((v for _, values, _ in series for v in values if v is not None), default=0))
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return pad_left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return pad_top + plot_h - plot_h * v / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="none">',
        f"<title>{escape(title)}</title>",
    ]
    for frac in (0, 0.5, 1):
        gy = y(top * frac)
        parts.append(f'<line x1="{pad_left}" x2="{width - pad_right}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#ddd" '
                     'vector-effect="non-scaling-stroke"/>')
    ticks = sorted({0, n - 1, (n - 1) // 2} if n > 2 else set(range(n)))
    for name, values, colour in series:
        runs: list[list[str]] = [[]]
        dashed: list[str] = []
        cut = partial if name not in whole else None
        for i, v in enumerate(values):
            if cut is not None and i >= cut:
                if i == cut and v is not None and i > 0 and values[i - 1] is not None:
                    dashed = [f"{x(i - 1):.1f},{y(values[i - 1]):.1f}", f"{x(i):.1f},{y(v):.1f}"]
                continue
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
        if dashed:
            parts.append(f'<polyline class="partial" data-series="{escape(name)}" fill="none" stroke="{colour}" stroke-width="2" '
                         f'stroke-dasharray="4 4" vector-effect="non-scaling-stroke" points="{" ".join(dashed)}"/>')
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{colour}" '
                             f'stroke-width="2" vector-effect="non-scaling-stroke" points="{" ".join(run)}"/>')
    parts.append("</svg>")
    y_axis = "".join(f"<span>{top * frac:g}</span>" for frac in (1, 0.5, 0))
    x_axis = "".join(f"<span>{escape(labels[i][:16])}</span>" for i in ticks) if labels else ""
    return (f'<div class="chart-box"><div class="y-axis" aria-hidden="true">{y_axis}</div>{"".join(parts)}'
            f'<div class="x-axis" aria-hidden="true">{x_axis}</div></div>')
