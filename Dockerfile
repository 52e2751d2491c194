# One image for every role; docker-compose.yml picks the role with its command:
#   ativa db upgrade | ativa serve --no-worker | ativa worker | ativa beat
# Alone (`docker run -p 8000:8000 <image>`) it runs `ativa serve`: the API plus a worker and the
# scheduler beside it, on an embedded SQLite database under /app/var.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflow ./workflow
COPY workers ./workers
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app --no-create-home ativa \
    && mkdir -p /app/var \
    && chown ativa /app/var

# Nothing here needs root.
USER ativa

ENV ATIVA_HOST=0.0.0.0
EXPOSE 8000
CMD ["ativa", "serve"]
