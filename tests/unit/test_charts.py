"""The dashboard's SVG bar charts: one bar per day, its numbers in its <title>, labels escaped,
and a drawing that scales to its box."""

import re
from datetime import date, timedelta
from xml.etree import ElementTree

import pytest

from workflow.web.charts import Series, bar_chart, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(30)]


def svg_of(markup: str) -> ElementTree.Element:
    drawing = str(markup)[: markup.index("</svg>") + len("</svg>")]
    return ElementTree.fromstring(drawing.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))  # noqa: S314 - our own drawing


def test_one_bar_per_day_with_its_values_in_the_title():
    auto = [n % 4 for n in range(30)]
    manual = [1 if n == 29 else 0 for n in range(30)]
    markup = bar_chart(
        "Cortes por dia",
        DAYS,
        [Series("Automáticos", "s-auto", auto), Series("Manuais", "s-manual", manual)],
        numbers_id="numeros-cortes",
    )
    svg = svg_of(markup)
    bars = svg.findall(f"{SVG}g[@class='bar']")
    assert len(bars) == 30
    assert [bar.get("data-day") for bar in bars] == [d.isoformat() for d in DAYS]
    assert bars[3].find(f"{SVG}title").text == "04/11: Automáticos 3; Manuais 0"
    assert bars[29].find(f"{SVG}title").text == "30/11: Automáticos 1; Manuais 1"
    # Each non-zero value is one coloured rectangle, stacked; a day of zeros has only its hover area.
    assert [r.get("class") for r in bars[29].findall(f"{SVG}rect")] == ["hit", "s-auto", "s-manual"]
    assert [r.get("class") for r in bars[0].findall(f"{SVG}rect")] == ["hit"]
    heights = {float(r.get("height")) for bar in bars for r in bar.findall(f"{SVG}rect[@class='s-auto']")}
    assert len(heights) == 3  # 1, 2 and 3 drawn at three heights, in proportion
    assert max(heights) == pytest.approx(3 * min(heights))


def test_the_drawing_scales_and_labels_in_portuguese():
    markup = bar_chart("Reativações", DAYS, [Series("Por pagamento", "s-payment", [1234] * 30)], numbers_id="n")
    svg = svg_of(markup)
    assert svg.get("viewBox") == "0 0 420 200" and svg.get("width") == "100%"
    assert svg.find(f"{SVG}title").text == "Reativações"
    labels = [t.text for t in svg.findall(f"{SVG}text")]
    assert labels[:3] == ["0", "1.000", "2.000"]  # the value axis, thousands with a dot
    assert "30/11" in labels and "24/11" in labels  # day labels counted back from the last day
    assert '<ul class="legend"><li><span class="swatch s-payment"></span>Por pagamento</li></ul>' in markup


def test_text_is_escaped_and_tooltips_may_be_given():
    markup = bar_chart(
        "<script>", DAYS[:2], [Series("<b>", "s-other", [0, 2])], tooltips=["sem dados", "2 & <mais>"], numbers_id="n"
    )
    assert "<script>" not in markup and "<b>" not in markup
    assert "&lt;script&gt;" in markup and "2 &amp; &lt;mais&gt;" in markup
    assert len(re.findall(r'<g class="bar"', markup)) == 2


def test_the_numbers_are_also_a_table_the_drawing_points_at():
    """A phone cannot hover a <title> and a screen reader does not enter role="img": the same
    numbers in a folded table under the chart, named by the drawing's aria-describedby."""
    markup = bar_chart(
        "Reativações",
        DAYS[:3],
        [Series("Por pagamento", "s-payment", [1234, 0, 2]), Series("Outras", "s-other", [0, 1, 0])],
        numbers_id="numeros-reativacoes",
    )
    assert svg_of(markup).get("aria-describedby") == "numeros-reativacoes"
    folded = str(markup)[markup.index("<details") :]
    assert folded.startswith('<details class="chart-numbers"><summary>Ver números</summary>')
    table = ElementTree.fromstring(folded[folded.index("<table") : folded.index("</table>") + len("</table>")])  # noqa: S314
    assert table.get("id") == "numeros-reativacoes"
    assert [th.text for th in table.find("thead").iter("th")] == ["Dia", "Por pagamento", "Outras"]
    rows = [[cell.text for cell in row] for row in table.find("tbody")]
    assert rows == [["01/11/2026", "1.234", "0"], ["02/11/2026", "0", "1"], ["03/11/2026", "2", "0"]]
    given = bar_chart(
        "Latência", DAYS[:1], [Series("Mediana", "s-latency", [5.0])], numbers_id="n", columns=[("p90", ["7 s"])]
    )
    assert '<th scope="col" class="num">p90</th>' in given and '<td class="num">7 s</td>' in given


def test_the_axis_top_is_a_round_number_with_a_round_half():
    tops = [nice_ceiling(v) for v in (0, 0.3, 1, 3, 7, 10, 11, 250, 1234)]
    assert tops == pytest.approx([2, 0.4, 2, 4, 8, 20, 20, 400, 2000])
