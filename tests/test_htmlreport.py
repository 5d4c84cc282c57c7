"""The report renderer: escaping, embedded figures, the Markdown twin, atomic writes."""

from __future__ import annotations

import base64
import re

import pytest

from eegemo.errors import EegemoError
from eegemo.htmlreport import (
    Cards,
    Code,
    Document,
    Image,
    KeyValues,
    Paragraph,
    Section,
    Table,
    image_data_uri,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels"


def make_document(figure) -> Document:
    return Document(
        "Report <1>",
        subtitle="made `today`",
        blocks=[
            Paragraph("Run `eegemo train` & <script>alert(1)</script>"),
            Cards([("accuracy", 0.91234), ("n", 12)]),
        ],
        sections=[
            Section("Results", [
                Table(("class", "F1", "support"), [("<b>a|b</b>", 0.5, 3), ("c", 0.25, 1)]),
                KeyValues([("model", "`resnet`"),
                           ("kwargs", {"width": 16, "bands": ["alpha", "beta"]}),
                           ("excluded", [])]),
                Image(figure, "The <figure>"),
            ]),
            Section("Commands", [Code("eegemo train --set 'a<b'")]),
        ],
    )


def test_html_escapes_text_and_embeds_figures(tmp_path):
    figure = tmp_path / "figures" / "fig.png"
    figure.parent.mkdir()
    figure.write_bytes(PNG)
    out = tmp_path / "report.html"
    assert make_document(figure).write_html(out) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figures", "report.html"]
    page = out.read_text(encoding="utf-8")

    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>a" not in page and "<td>&lt;b&gt;a|b&lt;/b&gt;</td>" in page
    assert "<title>Report &lt;1&gt;</title>" in page
    assert "Run <code>eegemo train</code> &amp; " in page
    assert '<p class="subtitle">made <code>today</code></p>' in page
    assert "<td><code>resnet</code></td>" in page
    assert "<td>width = 16, bands = [alpha, beta]</td>" in page
    assert "<th>excluded</th><td>none</td>" in page
    # Columns holding only numbers are right-aligned.
    assert '<th>class</th><th class="num">F1</th><th class="num">support</th>' in page
    assert '<td class="num">0.25</td><td class="num">1</td>' in page
    assert '<span class="value">0.912</span><span class="label">accuracy</span>' in page
    # The figure is embedded byte for byte, and linked relative to the page.
    (data,) = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="The &lt;figure&gt;">',
                         page)
    assert base64.b64decode(data) == PNG
    assert '<a href="figures/fig.png">figures/fig.png</a>' in page
    assert "<pre><code>eegemo train --set &#x27;a&lt;b&#x27;</code></pre>" in page
    # A table of contents links to each section.
    assert re.findall(r'<a href="#(section-\d)">', page) == ["section-1", "section-2"]
    assert re.findall(r'<section id="(section-\d)">', page) == ["section-1", "section-2"]


def test_markdown_has_the_same_content(tmp_path):
    figure = tmp_path / "fig.png"
    figure.write_bytes(PNG)
    text = make_document(figure).write_markdown(tmp_path / "run" / "report.md").read_text()
    assert text.startswith("# Report <1>\n\n_made `today`_\n\nRun `eegemo train` & ")
    assert "| accuracy | n |\n|---:|---:|\n| 0.912 | 12 |\n" in text
    assert ("## Results\n\n| class | F1 | support |\n|---|---:|---:|\n"
            "| <b>a\\|b</b> | 0.5 | 3 |\n| c | 0.25 | 1 |\n") in text
    assert ("- model: `resnet`\n- kwargs: width = 16, bands = [alpha, beta]\n"
            "- excluded: none\n") in text
    assert "![The <figure>](../fig.png)" in text
    assert text.endswith("## Commands\n\n```\neegemo train --set 'a<b'\n```\n")


def test_figures_must_be_readable_pngs(tmp_path):
    not_png = tmp_path / "figure.png"
    not_png.write_text("text", encoding="utf-8")
    with pytest.raises(EegemoError, match="not a PNG"):
        image_data_uri(not_png)
    out = tmp_path / "report.html"
    document = Document("r", blocks=[Image(tmp_path / "missing.png", "gone")])
    with pytest.raises(EegemoError, match=r"missing\.png: cannot read the figure"):
        document.write_html(out)
    assert not out.exists()


def test_table_rows_must_match_the_header():
    with pytest.raises(ValueError, match="does not have 2 cells"):
        Table(("a", "b"), [(1, 2), (3,)])
