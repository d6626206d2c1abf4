# syntax=docker/dockerfile:1
# One image for every Stock Bazaar service; the first argument picks the service:
#   docker run stock-bazaar catalog | order | frontend | client [options]
# Services are configured by environment variables (README "Configuration"); see compose.yaml and
# deploy/k8s/. Node 24 LTS runs the TypeScript sources through tsx, a runtime dependency.

# Pinned by version and by the multi-platform index digest, so a rebuild gets the same Node and
# Debian packages; bump both together.
ARG NODE_IMAGE=node:24.18.0-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
# The standard grpc.health.v1 client, a static Go binary: compose health checks call it so that
# a probe costs milliseconds instead of starting Node. Kubernetes probes the same service natively.
ARG GRPC_HEALTH_PROBE_IMAGE=ghcr.io/grpc-ecosystem/grpc-health-probe:v0.4.48@sha256:b615f8b80a6796490b91bfe0f7f4d59cf73767d4921968495cb8b4024090e151

FROM ${GRPC_HEALTH_PROBE_IMAGE} AS grpc-health-probe

# Stage 1: the runtime dependencies only (no TypeScript compiler, Deno, test or bench tools).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the runtime image: node_modules from stage 1, the sources the services import, the
# health probe binary.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=grpc-health-probe /ko-app/grpc-health-probe /usr/local/bin/grpc_health_probe
COPY --from=deps /app/node_modules ./node_modules
# LICENSE: the MIT notice travels with every copy of the software, images included.
COPY package.json tsconfig.json LICENSE ./
COPY lib ./lib
COPY gen ./gen
COPY catalog ./catalog
COPY order ./order
COPY frontend ./frontend
COPY client ./client
COPY scripts/entrypoint.ts ./scripts/
# The data folder belongs to the unprivileged user; a named volume mounted here starts with
# this ownership, so the catalog and the replicas can write their files.
RUN mkdir -p /data && chown node:node /data
# `node` (uid 1000) comes with the base image.
USER node
# frontend 8080, catalog 50051, order replica i 50060+i; metrics (METRICS_PORT) 9464-9467.
EXPOSE 8080 50051 50061 50062 50063 9464 9465 9466 9467
ENTRYPOINT ["node", "--import", "tsx", "scripts/entrypoint.ts"]
CMD ["frontend"]
