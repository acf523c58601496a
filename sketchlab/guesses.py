"""The Draw page's guesses as one small piece of HTML: each model's top-k bars and the 28×28 image.

The page redraws its guesses after every stroke, for every person drawing at once, so
they are plain HTML and CSS (a few kilobytes, no chart library on the server or in the
browser): `benchmarks/guess_render.py` measures this against plotly bar charts and
`st.progress`. Every name that reaches the HTML (class labels, model names from a card)
is escaped: a card is data, never markup.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass

import numpy as np

BAR_COLORS = ("#1f77b4", "#e4572e", "#2a9d8f", "#8d6cab")

STYLE = """<style>
.sl-guesses{display:flex;flex-wrap:wrap;gap:1.25rem;font-family:inherit;margin:0.25rem 0 0.5rem}
.sl-model{flex:1 1 14rem;min-width:12rem}
.sl-name{font-weight:600;margin-bottom:0.1rem}
.sl-details{color:#6b6b80;font-size:0.8rem;margin-bottom:0.45rem}
.sl-row{display:grid;grid-template-columns:minmax(5rem,9rem) 1fr 3rem;align-items:center;gap:0.5rem;margin:0.2rem 0}
.sl-label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.sl-track{background:#eeeae3;border-radius:4px;height:1.05rem;overflow:hidden}
.sl-bar{height:100%;border-radius:4px;transition:width .15s ease-out}
.sl-pct{text-align:right;font-variant-numeric:tabular-nums}
.sl-first .sl-label{font-weight:600}
.sl-error{color:#b42318}
.sl-seen{display:flex;gap:0.9rem;align-items:center;margin-top:0.4rem}
.sl-seen img{width:112px;height:112px;image-rendering:pixelated;border-radius:4px;background:#000}
.sl-caption{color:#6b6b80;font-size:0.85rem}
</style>"""


@dataclass(frozen=True)
class ModelGuesses:
    """One model's answer, ready to show: its name, a caption, and (label, probability) best first."""

    name: str
    details: str
    top_k: list[tuple[str, float]]
    error: str = ""


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 bitmap as an inline PNG (`data:image/png;base64,...`); 28×28 is ~300 bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _model_html(guess: ModelGuesses, color: str) -> str:
    parts = [f'<div class="sl-model"><div class="sl-name">{html.escape(guess.name)}</div>',
             f'<div class="sl-details">{html.escape(guess.details)}</div>']
    if guess.error:
        parts.append(f'<div class="sl-error">{html.escape(guess.error)}</div>')
    for i, (label, prob) in enumerate(guess.top_k):
        share = min(1.0, max(0.0, float(prob)))
        parts.append(
            f'<div class="sl-row{" sl-first" if i == 0 else ""}">'
            f'<span class="sl-label" title="{html.escape(str(label))}">{html.escape(str(label))}</span>'
            f'<span class="sl-track"><span class="sl-bar" style="display:block;width:{share * 100:.1f}%;'
            f'background:{color}"></span></span><span class="sl-pct">{share:.0%}</span></div>'
        )
    parts.append("</div>")
    return "".join(parts)


def guesses_html(guesses: list[ModelGuesses], image: np.ndarray, n_strokes: int) -> str:
    """Every model side by side, then the 28×28 image they saw and how many strokes it holds.

    The classes it uses are in `STYLE`, which the page sends once, not with every stroke.
    """
    models = "".join(_model_html(g, BAR_COLORS[i % len(BAR_COLORS)]) for i, g in enumerate(guesses))
    strokes = f"{n_strokes} stroke{'s' if n_strokes != 1 else ''}"
    return (
        f'<div class="sl-guesses">{models}</div>'
        f'<div class="sl-seen"><img alt="the 28×28 image the models saw" src="{png_data_uri(image)}">'
        '<span class="sl-caption">What the models saw: your strokes normalized and rasterized to 28×28 '
        f"exactly like the training drawings ({strokes}).</span></div>"
    )
