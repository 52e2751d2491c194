"""Bar charts drawn by the server as inline SVG: no script, no CDN, nothing for the CSP to allow.

One bar per day, stacked by series; each bar carries a <title> with its numbers (the browser's
tooltip on hover). A phone has no hover and a screen reader does not enter role="img", so under
each chart a folded table ("Ver números") holds the same numbers, and the SVG points at it.
The drawing scales to its box (`viewBox`, width 100%), so the same chart fits a phone and a wide
screen; colours come from ativa.css by class.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from ..domain.brazilian import day as full_day
from ..domain.brazilian import number

WIDTH, HEIGHT = 420, 200
LEFT, RIGHT, TOP, BOTTOM = 62, 18, 10, 26  # room for the axis labels
X_LABELS = 5  # about as many day labels as fit a phone's width


@dataclass(frozen=True)
class Series:
    label: str  # the legend's words
    css_class: str  # its colour (ativa.css: .chart .s-…)
    values: Sequence[float]


def short_day(day: date) -> str:
    return day.strftime("%d/%m")


def nice_ceiling(value: float) -> float:
    """The axis' top: 2, 4, 6, 8 or 10 times a power of ten, at or above `value` (2 for an empty
    chart): its half, the middle line, is then a round number too (a count's axis reads 0, 1, 2)."""
    if value <= 0:
        return 2
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (2, 4, 6, 8, 10) if step * power >= value)


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bar_chart(
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    *,
    axis_text: Callable[[float], str] = number,
    tooltips: Sequence[str] | None = None,
    numbers_id: str,
    columns: Sequence[tuple[str, Sequence[str]]] | None = None,
) -> Markup:
    """A stacked bar per day. `tooltips` replaces each bar's default title ("dd/mm: série n; …").
    The table of numbers (id `numbers_id`) has a row per day and, after the day, `columns`
    (heading, each day's text), by default each series' values."""
    count = len(days)
    totals = [sum(s.values[n] for s in series) for n in range(count)]
    top = nice_ceiling(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    bar_w = max(slot * 0.7, 1)
    base = TOP + plot_h

    def y(value: float) -> float:
        return base - value / top * plot_h

    parts = [
        Markup(
            '<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" preserveAspectRatio="xMidYMid meet"'
            ' aria-describedby="{}"><title>{}</title>'
        ).format(WIDTH, HEIGHT, numbers_id, title)
    ]
    for value in (0, top / 2, top):  # the value axis: bottom, middle and top, with a faint line
        level = _fmt(y(value))
        parts.append(
            Markup('<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>').format(LEFT, WIDTH - RIGHT, level, level)
        )
        parts.append(
            Markup('<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>').format(
                LEFT - 4, _fmt(y(value) + 5), axis_text(value)
            )
        )
    every = max(1, math.ceil(count / X_LABELS))
    for n, day in enumerate(days):
        x = LEFT + n * slot + (slot - bar_w) / 2
        text = (
            tooltips[n]
            if tooltips is not None
            else f"{short_day(day)}: " + "; ".join(f"{s.label} {axis_text(s.values[n])}" for s in series)
        )
        parts.append(Markup('<g class="bar" data-day="{}"><title>{}</title>').format(day.isoformat(), text))
        # The whole column takes the pointer (and a finger), so a day without bars shows its title too.
        parts.append(
            Markup('<rect class="hit" x="{}" y="{}" width="{}" height="{}"/>').format(
                _fmt(LEFT + n * slot), TOP, _fmt(slot), plot_h
            )
        )
        stacked = 0.0
        for s in series:
            value = s.values[n]
            if value > 0:
                parts.append(
                    Markup('<rect class="{}" x="{}" y="{}" width="{}" height="{}"/>').format(
                        s.css_class, _fmt(x), _fmt(y(stacked + value)), _fmt(bar_w), _fmt(value / top * plot_h)
                    )
                )
                stacked += value
        parts.append(Markup("</g>"))
        if (count - 1 - n) % every == 0:  # counted from the last day, which always has its label
            parts.append(
                Markup('<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>').format(
                    _fmt(LEFT + n * slot + slot / 2), HEIGHT - 8, short_day(day)
                )
            )
    parts.append(Markup('</svg><ul class="legend">'))
    parts.extend(Markup('<li><span class="swatch {}"></span>{}</li>').format(s.css_class, s.label) for s in series)
    parts.append(Markup("</ul>"))
    if columns is None:
        columns = [(s.label, [axis_text(value) for value in s.values]) for s in series]
    parts.append(numbers_table(title, numbers_id, days, columns))
    return Markup("").join(parts)


def numbers_table(title: str, table_id: str, days: Sequence[date], columns: Sequence[tuple[str, Sequence[str]]]):
    """The chart's numbers as a table, folded under it (a phone's screen is mostly the chart)."""
    parts = [
        Markup(
            '<details class="chart-numbers"><summary>Ver números</summary><div class="table-wrap">'
            '<table class="list compact" id="{}"><caption>{}</caption><thead><tr><th scope="col">Dia</th>'
        ).format(table_id, title)
    ]
    parts.extend(Markup('<th scope="col" class="num">{}</th>').format(heading) for heading, _ in columns)
    parts.append(Markup("</tr></thead><tbody>"))
    for n, day in enumerate(days):
        parts.append(Markup('<tr data-day="{}"><th scope="row">{}</th>').format(day.isoformat(), full_day(day)))
        parts.extend(Markup('<td class="num">{}</td>').format(cells[n]) for _, cells in columns)
        parts.append(Markup("</tr>"))
    parts.append(Markup("</tbody></table></div></details>"))
    return Markup("").join(parts)
