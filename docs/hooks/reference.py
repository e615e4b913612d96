"""MkDocs hook: fills the generated reference tables into their pages.

A page holding ``<!-- generated: model-file -->`` or ``<!-- generated: metrics -->`` gets the
table built from the code (:mod:`toctou_sim.reporting.reference`) in place of the marker.
"""

from __future__ import annotations

from typing import Any

from toctou_sim.reporting.reference import metric_catalogue_markdown, model_file_markdown


def on_page_markdown(markdown: str, **_: Any) -> str:
    if "<!-- generated: model-file -->" in markdown:
        markdown = markdown.replace("<!-- generated: model-file -->", model_file_markdown())
    if "<!-- generated: metrics -->" in markdown:
        markdown = markdown.replace("<!-- generated: metrics -->", metric_catalogue_markdown())
    return markdown
