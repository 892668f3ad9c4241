# Handover — 课后服务安全交接: the API (and worker) image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HANDOVER_DATA_DIR=/var/lib/handover

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/handover --create-home handover \
    && chown handover:handover /var/lib/handover

USER handover
EXPOSE 8000

CMD ["handover", "serve", "--host", "0.0.0.0", "--port", "8000"]
