# Handover — 课后服务安全交接: the API (and worker) image, with the screens built in.

# The API's OpenAPI document, from which the screens' typed client is generated.
FROM python:3.11-slim AS openapi
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY scripts/dump-openapi.py ./scripts/
RUN pip install . && mkdir web && python scripts/dump-openapi.py web/openapi.json

# The screens (web/dist), built with the npm registry's packages as locked.
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
COPY --from=openapi /src/web/openapi.json ./openapi.json
RUN npm run build

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HANDOVER_DATA_DIR=/var/lib/handover \
    HANDOVER_WEB_DIST=/app/web/dist

WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY --from=web /web/dist ./web/dist
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/handover --create-home handover \
    && install -d -o handover -g handover -m 0700 /var/lib/handover/evidence-keys \
    && chown handover:handover /var/lib/handover

USER handover
EXPOSE 8000

CMD ["handover", "serve", "--host", "0.0.0.0", "--port", "8000"]
