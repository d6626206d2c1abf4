# syntax=docker/dockerfile:1
# One image for every Stock Bazaar service; the first argument picks the service:
#   docker run stock-bazaar catalog | order | frontend | client [options] | healthcheck <service> [--live]
# Services are configured by environment variables (README "Configuration"); see compose.yaml and
# deploy/k8s/. Node 20 runs the TypeScript sources through tsx, a runtime dependency.

ARG NODE_IMAGE=node:20-bookworm-slim

# Stage 1: the runtime dependencies only (no TypeScript compiler, Deno, test or bench tools).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 2: the health probe bundled into one plain-JavaScript file (esbuild comes with tsx).
# Probes run every few seconds in every container; without tsx one costs a fifth of the CPU
# time and half the memory.
FROM deps AS probe
COPY tsconfig.json ./
COPY lib ./lib
COPY catalog ./catalog
COPY order ./order
COPY frontend ./frontend
COPY scripts/healthcheck.ts ./scripts/
RUN node_modules/.bin/esbuild scripts/healthcheck.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning --outfile=dist/healthcheck.mjs

# Stage 3: the runtime image: node_modules from stage 1, the sources the services import, the
# bundled probe from stage 2.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY lib ./lib
COPY gen ./gen
COPY catalog ./catalog
COPY order ./order
COPY frontend ./frontend
COPY client ./client
COPY scripts/entrypoint.ts scripts/healthcheck.ts ./scripts/
COPY --from=probe /app/dist/healthcheck.mjs ./scripts/healthcheck.mjs
# The data folder belongs to the unprivileged user; a named volume mounted here starts with
# this ownership, so the catalog and the replicas can write their files.
RUN mkdir -p /data && chown node:node /data
# `node` (uid 1000) comes with the base image.
USER node
# frontend 8080, catalog 50051, order replica i 50060+i.
EXPOSE 8080 50051 50061 50062 50063
ENTRYPOINT ["node", "--import", "tsx", "scripts/entrypoint.ts"]
CMD ["frontend"]
