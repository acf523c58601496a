# SketchLab's Streamlit app in a container (Debian slim, CPU only).
#   docker build -t sketchlab .
#   docker run --rm -p 8501:8501 sketchlab                       # Draw page, shipped models
#   docker run --rm -p 8501:8501 -v "$PWD/../shared/quickdraw:/data:ro" -e SKETCHLAB_DATA=/data \
#       -v sketchlab-state:/home/sketchlab/.cache/sketchlab sketchlab   # + Explore/Train, kept state
FROM python:3.11-slim

# libcairo2: the C library behind the rasterizer (cairocffi loads it at run time).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcairo2 \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app
# The tested pin set; copied alone first so a code change does not reinstall TensorFlow.
COPY requirements.txt .
RUN pip install -r requirements.txt

# The code stays root-owned (read-only to the app); the app writes only to its home
# (dataset cache, sweep database, trained and promoted models: ~/.cache/sketchlab).
COPY . .
RUN useradd --create-home --uid 10001 sketchlab \
    && mkdir -p /home/sketchlab/.cache/sketchlab \
    && chown -R sketchlab:sketchlab /home/sketchlab
USER sketchlab

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
