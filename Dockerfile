# One image for every service of run/services.py. Cloud Run runs it once per service and tells each
# instance which service it is with IOT_SERVICE (cloudbuild.yaml, terraform/services.tf); an argument
# (`docker run IMAGE gateway-http`) does the same. The service listens on $PORT (Cloud Run sets 8080).
#
# No HEALTHCHECK: Cloud Run ignores Docker's HEALTHCHECK and probes the container itself, with the startup
# probes declared in terraform/services.tf (the port for most services, /healthz for the pipeline).
#checkov:skip=CKV_DOCKER_2: Cloud Run ignores HEALTHCHECK; its own startup probes (terraform/services.tf) do this job

# python:3.11-slim-trixie (Python 3.11.16), pinned by its multi-arch index digest (tag pushed 2026-08-16).
# Move it deliberately: `docker buildx imagetools inspect python:3.11-slim-trixie` prints the current one.
FROM python:3.11-slim-trixie@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# Log lines reach Cloud Logging at once; nothing writes .pyc at run time (they are compiled below, and the
# runtime user cannot write to /app anyway). The project runs from /app without being pip-installed.
# IOT_DATA_DIR points at the only writable place; production refuses to generate keys there anyway.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    IOT_BIND_HOST=0.0.0.0 \
    IOT_DATA_DIR=/tmp/iot \
    PORT=8080

WORKDIR /app

# Dependencies get their own layer, rebuilt only when the lock changes: requirements.lock pins every runtime
# dependency of pyproject.toml's [project], transitive ones included, with the hashes of their files (`make lock`
# writes it), so every build installs the same files and pip refuses any other.
COPY requirements.lock ./
RUN pip install --no-cache-dir --disable-pip-version-check --require-hashes -r requirements.lock

COPY infra ./infra
COPY run ./run
# Compile once here: without it every cold start would compile every module it imports, because the
# runtime user cannot write __pycache__ (site-packages were compiled by pip above).
RUN python -m compileall -q infra run \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin iot

USER 10001
EXPOSE 8080

# PID 1 is the service itself (gunicorn's arbiter, or gateway-mqtt's event loop): it handles SIGTERM by
# draining in-flight requests, which is what Cloud Run sends 10 s before it stops an instance.
ENTRYPOINT ["python", "-m", "run"]
