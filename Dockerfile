# The genmodels playground for a class: Streamlit's own server in a container, run as a non-root user.
#   docker build -t genmodels .
#   docker run -d -p 8501:8501 -e GENMODELS_MAX_TRAINERS=4 genmodels
# Caps and timeouts are GENMODELS_* environment variables (README, "Deploy for your class").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# torch from its CPU-only index (the default Linux wheel bundles CUDA and is many times larger),
# then the pinned runtime requirements without the test and lint tools.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu "$(grep -E '^torch==' requirements.txt)" \
 && grep -vE '^(pytest|hypothesis|playwright|ruff)==' requirements.txt > /tmp/runtime.txt \
 && pip install -r /tmp/runtime.txt \
 && rm /tmp/runtime.txt

COPY genmodels genmodels
COPY playground playground
COPY assets assets

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin genmodels
USER genmodels

ENV STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_HEADLESS=true \
    STREAMLIT_SERVER_FILE_WATCHER_TYPE=none \
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE=20 \
    STREAMLIT_SERVER_MAX_WIDGET_STATE_SIZE=2 \
    STREAMLIT_RUNNER_POST_SCRIPT_GC=false \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    GENMODELS_MAX_STEPS=20000 \
    GENMODELS_MAX_PARAMS=2000000 \
    GENMODELS_MAX_ROWS=100000 \
    GENMODELS_IDLE_TIMEOUT=20 \
    GENMODELS_DROP_TIMEOUT=300 \
    GENMODELS_DATA=/data

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["python", "-m", "streamlit", "run", "playground/app.py"]
