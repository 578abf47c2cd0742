# One image recipe for the three services: `docker build --build-arg SERVICE=billing .`
# The build installs only the chosen service and what it depends on, from the locked versions.
# PYTHON_IMAGE: python:3.11-slim from Docker Hub by default; a machine without it builds a stand-in
# (deploy/images/build: local/python:3.11-slim) and sets PYTHON_IMAGE in .env.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS build
RUN pip install --no-cache-dir uv==0.13.9
# The image's own interpreter, never a downloaded one; copies, not links, into the venv the final stage takes.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY contracts contracts
COPY libs libs
COPY tools tools
COPY services services
ARG SERVICE
RUN test -n "$SERVICE" || (echo "build with --build-arg SERVICE=enrolment|billing|certification" && false)
RUN uv sync --frozen --no-dev --no-editable --package "${SERVICE}-service" --package mc-opscli

FROM ${PYTHON_IMAGE}
ARG SERVICE
ENV SERVICE=${SERVICE} \
    PATH=/app/.venv/bin:$PATH \
    HTTP_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 app && mkdir -p /app/var && chown app /app/var
COPY --from=build /app/.venv /app/.venv
# The event-source allow-list every consumer checks (a service without it refuses to start outside a checkout),
# and the ACL file `mc-ops acls apply` reads inside the stack.
COPY deploy/event-sources.yaml /app/deploy/event-sources.yaml
COPY deploy/kafka-acls.yaml /app/deploy/kafka-acls.yaml
ENV EVENT_SOURCES_FILE=/app/deploy/event-sources.yaml
WORKDIR /app
USER app
# The same command runs outside Docker: `python -m billing` (see tests/ops/test_compose.py).
CMD ["sh", "-c", "exec python -m \"$SERVICE\""]
