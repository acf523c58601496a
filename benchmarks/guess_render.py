"""How the Draw page should show its guesses: plotly bar charts, st.progress bars, or HTML.

    python benchmarks/guess_render.py            # 40 runs of each

The same content each way: two models' top-3 guesses and the 28x28 image they saw, as
the Draw page shows them after a stroke. Each way is a tiny Streamlit script run under
AppTest (which runs it as the server would, element protos and all), timed per run on
this process's CPU, with the size of the elements it sends to the browser. Plotly is
the baseline; the ratios are against it, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def plotly_way():
    import numpy as np
    import streamlit as st

    from sketchlab import plots

    answers = {"MLP": [("apple", 0.81), ("banana", 0.12), ("ant", 0.04)],
               "CNN": [("apple", 0.93), ("anvil", 0.05), ("ant", 0.01)]}
    image = (np.arange(784).reshape(28, 28) % 255).astype(np.uint8)
    for i, (col, (name, top)) in enumerate(zip(st.columns(2), answers.items())):
        with col:
            st.markdown(f"**{name}**")
            st.plotly_chart(plots.topk_figure(top), key=f"bars{i}", config={"displayModeBar": False})
    st.plotly_chart(plots.image_figure(image, height=180), key="seen", config={"displayModeBar": False})
    st.caption("What the models saw (3 strokes).")


def progress_way():
    import numpy as np
    import streamlit as st

    answers = {"MLP": [("apple", 0.81), ("banana", 0.12), ("ant", 0.04)],
               "CNN": [("apple", 0.93), ("anvil", 0.05), ("ant", 0.01)]}
    image = (np.arange(784).reshape(28, 28) % 255).astype(np.uint8)
    for col, (name, top) in zip(st.columns(2), answers.items()):
        with col:
            st.markdown(f"**{name}**")
            for label, p in top:
                st.progress(p, text=f"{label} {p:.0%}")
    st.image(image, width=112)
    st.caption("What the models saw (3 strokes).")


def html_way():
    import numpy as np
    import streamlit as st

    from sketchlab.guesses import ModelGuesses, guesses_html

    answers = {"MLP": [("apple", 0.81), ("banana", 0.12), ("ant", 0.04)],
               "CNN": [("apple", 0.93), ("anvil", 0.05), ("ant", 0.01)]}
    image = (np.arange(784).reshape(28, 28) % 255).astype(np.uint8)
    st.html(guesses_html([ModelGuesses(n, "k-fold top-1 0.85", t) for n, t in answers.items()], image, 3))


def measure(script, runs: int) -> tuple[float, int]:
    """(median CPU ms per run, bytes of element protos sent per run)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(script, default_timeout=60)
    at.run()  # imports and caches: not what a stroke costs
    times = []
    for _ in range(runs):
        start = time.process_time()
        at.run()
        times.append(time.process_time() - start)
    size = sum(node.proto.ByteSize() for node in _elements(at._tree))
    times.sort()
    return 1000 * times[len(times) // 2], size


def _elements(node):
    children = getattr(node, "children", None)
    if children:
        for child in children.values():
            yield from _elements(child)
    elif getattr(node, "proto", None) is not None:
        yield node


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args(argv)
    ways = {"plotly bar charts + heatmap (baseline)": plotly_way, "st.progress bars + st.image": progress_way,
            "one st.html block (the Draw page)": html_way}
    results = {name: measure(fn, args.runs) for name, fn in ways.items()}
    base_ms, base_bytes = next(iter(results.values()))
    print(f"{'way':<42} {'CPU ms/run':>10} {'bytes sent':>11} {'CPU vs plotly':>14}")
    for name, (ms, size) in results.items():
        print(f"{name:<42} {ms:>10.2f} {size:>11,} {base_ms / ms:>13.1f}x")
    print(f"(median of {args.runs} runs each, AppTest in one process; a run is what one stroke costs the server)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
