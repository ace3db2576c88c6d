FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY alpr alpr
COPY schema schema
COPY sql sql
COPY ingestor ingestor
COPY gateway gateway
RUN pip install --no-cache-dir . && useradd --system alpr
USER alpr
CMD ["alpr", "--help"]
