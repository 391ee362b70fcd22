# syntax=docker/dockerfile:1
# The detector worker: `inversion-detector run` as an unprivileged user.
# Settings come from INVDET_* environment variables (see README, "Configuration");
# docker-compose.yml runs it beside Apache Kafka and PostgreSQL.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY detector ./detector
COPY featurizers ./featurizers
COPY rules ./rules
COPY migrations ./migrations
# The project and every dependency as wheels, so the runtime stage installs offline and keeps no build files.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels inversion-detector
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/inversion-detector --create-home detector
USER detector
WORKDIR /var/lib/inversion-detector
# /healthz and /metrics (INVDET_METRICS_PORT).
EXPOSE 8000
CMD ["inversion-detector", "run"]
