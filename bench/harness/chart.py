"""A hand-written SVG bar chart: each server's req/s relative to gunicorn+Flask.

No plotting library, so the harness needs nothing beyond the standard
library. Bars grow up or down from the 1x line (gunicorn+Flask) on a log
scale, one panel per configuration, one group of bars per workload.
"""

import math
from xml.sax.saxutils import escape

from .servers import SERVERS

DEFAULT_BASELINE = "gunicorn"
COLORS = {
    "rush": "#e4572e",
    "granian": "#4c78a8",
    "bjoern": "#72b7b2",
    "raw": "#54a24b",
    "gunicorn": "#9d9d9d",
}
FONT = "font-family=\"-apple-system,'Segoe UI',Helvetica,Arial,sans-serif\""
WIDTH = 980
LEFT, RIGHT = 70, 20
PANEL_H = 300
PLOT_TOP, PLOT_BOTTOM = 40, 250  # inside a panel


def baseline_rps(summary: dict, workload: str, baseline: str) -> tuple[float | None, str]:
    """The baseline's req/s for this workload. For pipelined, when the baseline could
    not take part (gunicorn's sync workers cannot pipeline), use its params result:
    the same requests, sent one at a time."""
    base = summary.get(workload, {}).get(baseline)
    if base:
        return base["rps"], ""
    if workload == "pipelined":
        params = summary.get("params", {}).get(baseline)
        if params:
            return params["rps"], "vs baseline params"
    return None, ""


def chart_ratios(summary: dict, workloads: list[str], servers: list[str], baseline: str) -> dict:
    """{workload: ({server: ratio}, note)} for every server except the baseline."""
    out = {}
    for workload in workloads:
        base, note = baseline_rps(summary, workload, baseline)
        values = {}
        for server in servers:
            stats = summary.get(workload, {}).get(server)
            if base and stats and server != baseline:
                values[server] = stats["rps"] / base
        out[workload] = (values, note)
    return out


def nice_bounds(values: list[float]) -> tuple[float, float]:
    """Log-axis limits on the 1-2-5 ladder that include 1x and every value."""
    lo = min([0.8, *values]) / 1.2
    hi = max([2.0, *values]) * 1.35
    ladder = [m * 10**e for e in range(-3, 5) for m in (1, 2, 5)]
    return max(x for x in ladder if x <= lo), min(x for x in ladder if x >= hi)


def ticks(lo: float, hi: float) -> list[float]:
    return [m * 10**e for e in range(-3, 5) for m in (1, 2, 5) if lo <= m * 10**e <= hi]


def fmt_ratio(value: float) -> str:
    if value >= 10:
        return f"{value:.0f}\u00d7"
    return f"{value:.1f}\u00d7" if value >= 0.95 else f"{value:.2f}\u00d7"


def text(x: float, y: float, body: str, size: int = 12, **attrs) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" {extra}>{escape(body)}</text>'


def panel(title: str, ratios: dict, bars: list[str], top: float) -> list[str]:
    """One configuration: axis, gridlines, the 1x line and grouped bars."""
    values = [v for vals, _ in ratios.values() for v in vals.values()]
    lo, hi = nice_bounds(values)
    y0, y1 = top + PLOT_TOP, top + PLOT_BOTTOM

    def y(v: float) -> float:
        return y1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (y1 - y0)

    out = [text(LEFT, top + 22, title, 14, font_weight="600", fill="#222")]
    for t in ticks(lo, hi):
        color = "#555" if t == 1 else "#e6e6e6"
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
            f'stroke="{color}" stroke-width="{1.5 if t == 1 else 1}"/>'
        )
        out.append(text(LEFT - 8, y(t) + 4, f"{t:g}\u00d7", 11, fill="#666", text_anchor="end"))
    group_w = (WIDTH - LEFT - RIGHT) / max(1, len(ratios))
    bar_w = min(26.0, (group_w - 24) / max(1, len(bars)))
    for i, (workload, (vals, note)) in enumerate(ratios.items()):
        gx = LEFT + i * group_w + (group_w - bar_w * len(bars)) / 2
        for j, server in enumerate(bars):
            x = gx + j * bar_w
            if server not in vals:
                out.append(
                    text(x + bar_w / 2, y(1) - 4, "n/a", 8, fill="#999", text_anchor="middle")
                )
                continue
            v = vals[server]
            ya, yb = sorted((y(v), y(1)))
            out.append(
                f'<rect x="{x + 1:.1f}" y="{ya:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{max(yb - ya, 1):.1f}" rx="2" fill="{COLORS.get(server, "#888")}">'
                f"<title>{escape(SERVERS[server].label)}: {fmt_ratio(v)}</title></rect>"
            )
            label_y = ya - 4 if v >= 1 else yb + 11
            out.append(
                text(x + bar_w / 2, label_y, fmt_ratio(v), 9, fill="#333", text_anchor="middle")
            )
        cx = LEFT + (i + 0.5) * group_w
        out.append(text(cx, y1 + 20, workload, 12, fill="#222", text_anchor="middle"))
        if note:
            out.append(text(cx, y1 + 34, note, 9, fill="#888", text_anchor="middle"))
    return out


def render(
    panels: list[tuple[str, dict]], servers: list[str], workloads: list[str], subtitle: str
) -> str:
    """The whole SVG document. panels: (title, summary-of-that-config) pairs.

    The baseline is gunicorn+Flask; if it was not run, the first server listed.
    """
    baseline = DEFAULT_BASELINE if DEFAULT_BASELINE in servers else servers[0]
    base_label = SERVERS[baseline].label
    shown = [s for s in servers if s != baseline]
    height = 110 + PANEL_H * len(panels)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" {FONT}>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        text(LEFT, 28, f"Throughput relative to {base_label} (log scale, higher is better)", 17,
             font_weight="700", fill="#111"),
        text(LEFT, 48, subtitle, 11, fill="#666"),
    ]  # fmt: skip
    x = LEFT
    for server in shown:
        parts.append(
            f'<rect x="{x}" y="62" width="12" height="12" rx="2" fill="{COLORS.get(server, "#888")}"/>'
        )
        label = SERVERS[server].label
        parts.append(text(x + 17, 72, label, 12, fill="#222"))
        x += 30 + 7 * len(label)
    parts.append(text(x + 6, 72, f"\u2014 {base_label} = 1\u00d7", 12, fill="#555"))
    for k, (title, summary) in enumerate(panels):
        ratios = chart_ratios(summary, workloads, servers, baseline)
        parts += panel(title, ratios, shown, 84 + k * PANEL_H)
    foot = (
        "n/a: failed the correctness check for that workload (e.g. no pipelining support). "
        "Bars are median req/s divided by the baseline's median req/s in the same run."
    )
    parts.append(text(LEFT, height - 12, foot, 10, fill="#888"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
