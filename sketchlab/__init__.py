"""SketchLab: Google's Quick, Draw! doodles as data, models and an app.

The library behind the Streamlit app and the CLI. No Streamlit imports here.
Modules, in the order data flows through them:
    categories  the 345 category names and the QuickDraw-10 default
    drawing     a drawing as strokes; Google's "simplified" normalization
    formats     streaming readers for ndjson, Kaggle CSV, .npy and .npz
    raster      strokes -> 28x28 bitmaps exactly like the official numpy_bitmap
    download    the public bucket, with Range requests, resume and progress
    dataset     scan a data folder, build cached train/test arrays
    settings    where data is read and state is kept
    cli         `python -m sketchlab ...`
"""

__version__ = "0.1.0"
