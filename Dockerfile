# Nurture's Airflow image: the official Apache Airflow image, our fully pinned
# dependencies (requirements.lock) and the project code, laid out like the repo
# under /opt/nurture/app. Built and run by docker-compose.yml; see its header.
#
# The Airflow version here must equal the apache-airflow pin in pyproject.toml
# and requirements.lock (tests/test_docker_compose.py checks it, and the build
# stops below if the lock file disagrees with the image).
FROM apache/airflow:3.3.2-python3.11

# Telemetry off for every tool in the image (nurture/config.py does the same
# for runs outside Docker).
ENV DO_NOT_TRACK=1 \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    GX_ANALYTICS_ENABLED=False \
    NURTURE_APP_DIR=/opt/nurture/app \
    PYTHONPATH=/opt/nurture/app \
    PATH=/opt/nurture/bin:${PATH}

# /opt/nurture/data is where the named volume `nurture-data` is mounted. A new
# volume copies this directory's owner and mode, so containers running as
# AIRFLOW_UID with group 0 (see docker-compose.yml) can write to it.
USER root
# A Java runtime for the dbt `spark` target's local session (pyspark runs on Java 17);
# the thrift / http methods to a real cluster do not need it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /opt/nurture/app /opt/nurture/bin /opt/nurture/data \
    && chown -R airflow:0 /opt/nurture \
    && chmod -R g+rwX /opt/nurture
USER airflow
WORKDIR /opt/nurture/app

# Dependencies first, so editing project code does not rebuild this layer.
# The lock file is complete and pinned: --no-deps installs exactly what it
# lists and nothing else.
COPY --chown=airflow:0 requirements.lock pyproject.toml ./
RUN grep -qx "apache-airflow==${AIRFLOW_VERSION}" requirements.lock \
    || { echo "requirements.lock must pin apache-airflow==${AIRFLOW_VERSION}, the base image's version" >&2; exit 1; } \
    && pip install --no-cache-dir --no-deps -r requirements.lock

# The project itself. Instead of `pip install --no-deps -e .` the package is put
# on PYTHONPATH (above): an editable install needs the setuptools/wheel build
# backend, which is not in requirements.lock, so pip would download an unpinned
# one. The effect is the same: `import nurture` resolves to
# /opt/nurture/app/nurture, so nurture.config.PROJECT_ROOT is /opt/nurture/app
# and finds dbt_project/ next to it. The console script below mirrors
# [project.scripts] in pyproject.toml.
COPY --chown=airflow:0 nurture/ ./nurture/
COPY --chown=airflow:0 dags/ ./dags/
COPY --chown=airflow:0 dbt_project/ ./dbt_project/
COPY --chown=airflow:0 expectations/ ./expectations/
RUN printf '%s\n' '#!/usr/bin/env python' 'from nurture.cli import main' 'main()' > /opt/nurture/bin/nurture \
    && chmod 0755 /opt/nurture/bin/nurture \
    && chmod -R g+rwX /opt/nurture/app \
    && python -c "import nurture.config"
