# syntax=docker/dockerfile:1
# One image runs every mode: `docker run IMAGE --mode api|dispatcher|worker|operator|all`,
# `docker run IMAGE migrate run`, and the other bins (scheduler-cli, ...) by --entrypoint.
# Build: docker build -t scheduler:latest .
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: compile TypeScript to dist/ ------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are copied, and the `node` devDependency
# would download a second Node; the base image's Node 24 runs tsc.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs ./scripts/copy-assets.mjs
COPY core ./core
COPY api ./api
COPY worker ./worker
COPY cli ./cli
COPY operator ./operator
# the web console (Vite), built into dist/console next to the compiled server
COPY console ./console
RUN npm run build && chmod 0755 dist/cli/bin/*.js

# ---- runtime: production dependencies, dist/ and config/ only --------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini is PID 1: it forwards SIGTERM to the scheduler (which drains) and reaps the processes that
# shell tasks leave behind.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# production: auth is required (and keys of 32+ characters). The image listens on 0.0.0.0, so an
# ENVIRONMENT without auth (development) refuses to start here unless API_AUTH_ENABLED=true: an API
# without auth is served on loopback only (docs/security.md).
# NODE_OPTIONS: V8 sizes its young generation from the container's memory limit, and under a 512 MiB
# limit picks one so small that a dispatcher firing 1,667 schedules a second scavenged 23 times a second
# and spent 95 us of CPU per fire instead of 58 (bench/dispatcher-memory.ts, docs/deployment.md#memory).
# Setting NODE_OPTIONS yourself replaces this: keep the flag in it.
ENV NODE_ENV=production \
    ENVIRONMENT=production \
    LOG_FORMAT=json \
    API_BIND_ADDRESS=0.0.0.0:8080 \
    NODE_OPTIONS=--max-semi-space-size=16
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
RUN for bin in scheduler scheduler-api scheduler-dispatcher scheduler-worker scheduler-cli kubectl-hourglass; do \
      ln -s "/app/dist/cli/bin/$bin.js" "/usr/local/bin/$bin"; \
    done \
 && mkdir -p /app/data \
 && chown node:node /app/data
# the embedded database (no DATABASE_URL, --mode all) lives here
VOLUME ["/app/data"]
# numeric, so Kubernetes can verify runAsNonRoot (uid 1000 is the base image's `node` user)
USER 1000:1000
EXPOSE 8080
# /health of the API (api, all), or of observability.metrics_bind_address in the dispatcher and worker
# modes (0.0.0.0:8080 in config/production.toml and staging.toml; set METRICS_BIND_ADDRESS elsewhere).
# The operator answers on 8081: HEALTHCHECK_PORT=8081.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTHCHECK_PORT || '8080') + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "scheduler"]
CMD ["--mode", "all"]
