# Image for deployers: web (gunicorn), worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY marketplace ./marketplace
COPY worker ./worker
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY translations ./translations
COPY data ./data
RUN pip install --no-cache-dir . && pybabel -q compile -d translations -f || true
ENV FLASK_APP=marketplace INSTANCE_PATH=/data/instance
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "3", "marketplace.wsgi:app"]
