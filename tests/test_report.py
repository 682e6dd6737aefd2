"""The HTML report: parses, is self-contained, embeds every figure, escapes hostile strings; plots are real PNGs."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import matplotlib.image as mpimg
import numpy as np
import polars as pl
import pytest

from validation.experiments.walk_forward_run import identical_variants
from validation.reporting.report import (
    PNG_SIGNATURE,
    KeyFigure,
    ReportSection,
    build_report,
    cards_html,
    decision_section,
    figure_html,
    format_value,
    markout_figure,
    paragraph,
    pending_decision,
    plot_equity_curves,
    plot_regime_timeline,
    plot_variant_differences,
    reliability_figure,
    table_html,
    verdict_frame,
    verdict_table_html,
    with_decision,
)
from validation.statistics.baseline_table import markout_curve
from validation.statistics.calibration_metrics import diagram_range, reliability_diagram
from validation.statistics.significance import component_verdict

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOSTILE = '<script>alert("x")</script> & "quoted" \'single\' <img src=//evil.example/x onerror=alert(1)>'
VOID = {"meta", "img", "br", "hr", "link", "input"}


class Collector(HTMLParser):
    """Records tags, attributes and text, and checks that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def parse(document: str) -> Collector:
    parser = Collector()
    parser.feed(document)
    parser.close()
    return parser


def equity_frames() -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(3)
    time = T0 + np.arange(0, 6 * 3_600_000, 60_000, dtype=np.int64)
    return {
        name: pl.DataFrame({"time": time, "equity": np.cumsum(rng.normal(drift, 1.0, time.size))})
        for name, drift in (("baseline", 0.0), ("+hawkes_kappa", 0.05), (HOSTILE, -0.02))
    }


def beliefs_frame() -> pl.DataFrame:
    rng = np.random.default_rng(4)
    raw = rng.dirichlet([5.0, 2.0, 0.5], size=240)
    return pl.DataFrame(
        {
            "time": T0 + 60_000 * np.arange(1, 241, dtype=np.int64),
            "belief_calm": raw[:, 0],
            "belief_volatile": raw[:, 1],
            "belief_cascade": raw[:, 2],
        }
    )


def marked_fills() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    n = 400
    frame = {"is_market_trade": rng.random(n) < 0.5, "side": rng.choice([-1, 1], n)}
    for h in (1_000, 5_000, 30_000):
        frame[f"markout_{h}ms_bps"] = rng.normal(-0.5, 2.0, n)
    return pl.DataFrame(frame)


def verdicts():
    rng = np.random.default_rng(6)
    base = rng.normal(0.0, 1.0, 600)
    return {
        "+hawkes_kappa": component_verdict(base, base + rng.normal(0.3, 0.5, 600)),
        "+vpin_widening": component_verdict(base, base + rng.normal(-0.1, 0.5, 600)),
        HOSTILE: component_verdict(base[:50], base[:50] + rng.normal(0.2, 0.5, 50)),
    }


@pytest.fixture(scope="module")
def document() -> str:
    rng = np.random.default_rng(8)
    forecasts = rng.uniform(0.05, 0.95, 1_000)
    outcomes = (rng.random(1_000) < forecasts).astype(float)
    hostile_table = pl.DataFrame({HOSTILE: [HOSTILE, "ok"], "value": [1.5, None], "n": [1_234_567, 3]})
    sections = [
        ReportSection(
            "Headline",
            [
                cards_html(
                    [
                        KeyFigure("OOS P&L", "12.3 quote", "90% CI [1.2, 23.4], n = 1,440"),
                        KeyFigure(HOSTILE, HOSTILE, HOSTILE),
                    ]
                ),
                paragraph(HOSTILE),
            ],
        ),
        ReportSection(
            "Equity",
            [
                figure_html(
                    plot_equity_curves(equity_frames(), boundaries_ms=[T0 + 3_600_000]),
                    "Out-of-sample equity per variant",
                    360,
                    None,
                    "minutes per variant",
                )
            ],
        ),
        ReportSection(
            "Regimes", [figure_html(plot_regime_timeline(beliefs_frame()), "Regime beliefs", 240, None, "bars")]
        ),
        ReportSection("Markouts", [markout_figure(markout_curve(marked_fills(), (1_000, 5_000, 30_000)), "Markouts")]),
        ReportSection(
            "Calibration", [reliability_figure(reliability_diagram(outcomes, forecasts), "Fill probability")]
        ),
        ReportSection("Verdicts", [verdict_table_html(verdicts())]),
        ReportSection(HOSTILE, [table_html(hostile_table, caption=HOSTILE)]),
    ]
    return build_report(f"Walk-forward {HOSTILE}", sections, generated_ms=T0)


def decoded_pngs(parser: Collector) -> list[bytes]:
    sources = [attrs["src"] or "" for attrs in parser.named("img")]
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    return [base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True) for src in sources]


def test_report_parses_and_is_self_contained(document: str):
    parser = parse(document)
    assert parser.errors == [] and parser.stack == []
    assert document.startswith("<!DOCTYPE html>")
    assert re.search(r"https?://", document, re.IGNORECASE) is None
    assert parser.named("script") == [] and parser.named("link") == [] and parser.named("iframe") == []
    for tag, attrs in parser.tags:  # the only URLs are data: images and in-page anchors
        assert all(not k.startswith("on") for k in attrs), (tag, attrs)
        if "href" in attrs:
            assert (attrs["href"] or "").startswith("#section-")
    assert [a["content"] for a in parser.named("meta") if a.get("http-equiv")] == [
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    ]
    assert len(parser.named("section")) == 7
    assert "2026-01-01 00:00:00 UTC" in "".join(parser.text)


def test_report_embeds_one_valid_png_per_figure_each_captioned_with_n_and_ci(document: str):
    parser = parse(document)
    pngs = decoded_pngs(parser)
    assert len(pngs) == len(parser.named("figure")) == len(parser.named("figcaption")) == 4
    for png in pngs:
        image = mpimg.imread(io.BytesIO(png), format="png")
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", document)
    assert all(
        re.search(r"\(n = [\d,]+ .+; (\d+% confidence intervals|no confidence interval drawn)\)", c) for c in captions
    )
    assert "(n = 400 fills; 95% confidence intervals)" in captions[2]
    assert "(n = 1,000 forecasts; 95% confidence intervals)" in captions[3]


def test_hostile_strings_are_escaped_everywhere(document: str):
    parser = parse(document)
    tags = {tag for tag, _ in parser.tags}
    assert "script" not in tags
    assert len(parser.named("img")) == 4  # the hostile <img> stayed text
    text = "".join(parser.text)
    assert text.count(HOSTILE) >= 9  # title x2, toc, section, card x3, paragraph, table header, cell, caption...
    assert "<script>" not in document and "&lt;script&gt;" in document


def test_table_html_formats_and_escapes_cells():
    frame = pl.DataFrame(
        {
            "a<b": ["x&y"],
            "f": [0.012345],
            "big": [1234567.891],
            "tiny": [1.5e-7],
            "i": [12345],
            "nan": [float("nan")],
            "none": pl.Series([None], dtype=pl.Float64),
        }
    )
    out = table_html(frame, caption="c<d")
    parser = parse(out)
    cells = [t.strip() for t in parser.text]
    assert cells == [
        "c<d",
        "a<b",
        "f",
        "big",
        "tiny",
        "i",
        "nan",
        "none",
        "x&y",
        "0.01235",
        "1.235e+06",
        "1.500e-07",
        "12,345",
        "NaN",
        "\u2013",
    ]
    assert "a&lt;b" in out and "x&amp;y" in out
    assert (
        format_value(True) == "True"
        and format_value(-0.5) == "-0.5000"
        and format_value(float("-inf")) == "\u2212\u221e"
    )
    with pytest.raises(ValueError, match="row classes"):
        table_html(frame, row_classes=["a", "b"])


def test_verdict_table_lists_decisions_and_interval_level():
    v = verdicts()
    frame = verdict_frame(v)
    assert frame.columns == [
        "component",
        "identical_to",
        "decision",
        "p_value",
        "n",
        "n_effective",
        "effect",
        "ci_low",
        "ci_high",
    ]
    assert frame["identical_to"].null_count() == frame.height
    assert frame["decision"].to_list() == [v[k].decision for k in v]
    assert set(frame["decision"]) <= {"keep", "remove", "insufficient evidence"}
    assert frame.filter(pl.col("component") == HOSTILE)["decision"].item() == "insufficient evidence"
    out = verdict_table_html(v, alpha=0.05)
    parser = parse(out)
    assert [a.get("class") for a in parser.named("tr")[1:]] == [
        {"keep": "keep", "remove": "remove", "insufficient evidence": "insufficient"}[d] for d in frame["decision"]
    ]
    assert "90% two-sided HAC interval" in out


def test_plots_return_png_bytes_and_reject_empty_inputs():
    for png in (plot_equity_curves(equity_frames()), plot_regime_timeline(beliefs_frame())):
        assert png.startswith(PNG_SIGNATURE)
        assert b"matplotlib.org" not in png  # metadata stripped
        assert mpimg.imread(io.BytesIO(png), format="png").shape[2] in (3, 4)
    two_states = beliefs_frame().with_columns(belief_cascade=pl.lit(None, dtype=pl.Float64))
    assert plot_regime_timeline(two_states).startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="no equity curves"):
        plot_equity_curves({})
    with pytest.raises(ValueError, match="belief_"):
        plot_regime_timeline(pl.DataFrame({"time": [T0], "p": [1.0]}))
    with pytest.raises(ValueError, match="not PNG"):
        figure_html(b"GIF89a", "caption", 1, 0.95)


def test_the_gate_fills_the_pending_decision_section_and_nothing_else():
    document = build_report("Run", [ReportSection("Only", [paragraph("caf\u00e9 \u2013 \u03b1")])])
    pending = with_decision(document, pending_decision("run-1"))
    assert "Promotion decision: pending" in pending and "run-1" in pending and parse(pending).errors == []
    decided = with_decision(
        pending,
        decision_section(
            "rejected", {"param_set_id": "ps-9", "gate run": "run-2", "walk-forward run": "run-1"}, [HOSTILE]
        ),
    )
    assert "pending" not in decided and decided.count("Promotion decision") == 1
    assert "ps-9" in decided and "run-2" in decided and "<script>" not in decided and parse(decided).errors == []
    assert (
        decided.replace(
            decided[decided.index("<!-- promotion-decision -->") : decided.index("<!-- /promotion-decision -->") + 28],
            "",
        )
        == document
    )
    with pytest.raises(ValueError, match="no <main>"):
        with_decision("<html></html>", pending_decision("run-1"))


def test_identical_variants_name_the_first_earlier_variant_with_the_same_pnl():
    pnl = pl.DataFrame(
        {
            "time": [T0, T0 + 60_000, T0 + 120_000],
            "baseline": [1.0, -2.0, 0.5],
            "+a": [1.0, -2.0, 0.5],
            "+b": [1.0, -2.0, 0.4],
            "+c": [1.0, -2.0, 0.4],
            "+d": [1.0, -2.0, 0.5],
        }
    )
    assert identical_variants(pnl, ["baseline", "+a", "+b", "+c", "+d"]) == {
        "+a": "baseline",
        "+c": "+b",
        "+d": "baseline",
    }
    v = verdicts()
    out = verdict_table_html(v, identical={"+vpin_widening": "+hawkes_kappa"})
    assert "identical_to" in out and out.count("+hawkes_kappa") == 2


def test_variant_differences_plot_one_panel_per_variant_with_its_band():
    rng = np.random.default_rng(9)
    time = pl.Series(T0 + 60_000 * np.arange(300, dtype=np.int64))
    png = plot_variant_differences(
        time,
        {"+a": rng.normal(0.1, 1.0, 300), "+b": np.zeros(300), "+c": rng.normal(-0.1, 1.0, 300)},
        {"+a": (0.01, 0.2), "+b": None, "+c": (-0.2, float("nan"))},
        {"+b": "identical to baseline"},
    )
    image = mpimg.imread(io.BytesIO(png), format="png")
    assert png.startswith(PNG_SIGNATURE) and image.shape[0] > image.shape[1] / 2  # two rows of panels
    with pytest.raises(ValueError, match="no variant"):
        plot_variant_differences(time, {}, {})


def test_reliability_diagram_is_drawn_on_the_forecasts_range():
    """Fill probabilities of a few percent were squeezed into the corner of a 0-1 square."""
    rng = np.random.default_rng(10)
    forecasts = rng.uniform(0.01, 0.05, 20_000)
    outcomes = (rng.random(20_000) < forecasts).astype(float)
    low, high = diagram_range(reliability_diagram(outcomes, forecasts))
    assert 0.0 <= low < 0.01 and 0.05 < high < 0.1
    wide = rng.uniform(0.0, 1.0, 5_000)
    assert diagram_range(reliability_diagram((rng.random(5_000) < wide).astype(float), wide)) == (0.0, 1.0)


def test_tables_fit_the_page():
    wide = pl.DataFrame({f"a_rather_long_column_name_{k}": [1234.5678] for k in range(20)})
    out = table_html(wide)
    assert out.startswith('<div class="table-wrap"><table>') and out.endswith("</table></div>")
    document = build_report("Run", [ReportSection("Wide", [out])])
    assert ".table-wrap { max-width: 100%; overflow-x: auto;" in document
    assert "th { background: #f0f0f0; text-align: left; overflow-wrap: anywhere;" in document
