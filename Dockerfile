# One image for every process of the stack: `alpr migrate`, `python -m
# ingestor`, `python -m gateway`, and the operator commands (`alpr backup`,
# `alpr import`, ...). Configuration comes only from ALPR_* variables.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY alpr alpr
COPY schema schema
COPY sql sql
COPY ingestor ingestor
COPY gateway gateway
RUN pip install --no-cache-dir --prefix=/install .
# GraphiQL's browser files inside the image: ALPR networks often have no
# internet, and the page would otherwise load them from unpkg.
RUN apt-get update && apt-get install -y --no-install-recommends npm \
    && PYTHONPATH=/install/lib/python3.11/site-packages python -m gateway.assets \
    && rm -rf /var/lib/apt/lists/*

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
# A fixed uid so volume permissions survive image rebuilds.
RUN useradd --system --uid 10001 --home-dir /app --create-home alpr
WORKDIR /app
USER alpr
# gateway, ingestor HTTP source, ingestor metrics
EXPOSE 8000 8001 9101
CMD ["alpr", "--help"]
