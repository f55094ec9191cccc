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
) -> str:
    """One SVG with a polyline per series (name, values, CSS colour); None is a gap (a suppressed
    bucket), drawn as a break in the line. Scales to its container (viewBox)."""
    pad_left, pad_right, pad_top, pad_bottom = 44, 10, 12, 26
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
        parts.append(f'<line x1="{pad_left}" x2="{width - pad_right}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{pad_left - 6}" y="{gy + 4:.1f}" text-anchor="end" font-size="11" fill="#666">{top * frac:g}</text>')
    ticks = {0, n - 1, (n - 1) // 2} if n > 2 else set(range(n))
    for i in sorted(ticks):
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="{anchor}" font-size="11" fill="#666">{escape(labels[i][:16])}</text>')
    for name, values, colour in series:
        runs: list[list[str]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{colour}"/>')
            elif run:
                parts.append(f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{colour}" '
                             f'stroke-width="2" points="{" ".join(run)}"/>')
    parts.append("</svg>")
    return "".join(parts)
