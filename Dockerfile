# syntax=docker/dockerfile:1
# buildcast: multi-stage image. The build stage compiles TypeScript with the dev
# dependencies; the runtime stage holds only production dependencies, dist/ and config/.
#   docker build -t buildcast .
#   docker run --rm -p 3000:3000 -e NATS_URL=... -e REDIS_URL=... buildcast

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing we build with needs an install script (tsc is plain JS), and
# not running them keeps the build the same on machines that gate them.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/copy-assets.mjs ./scripts/
# tsc, then the files it does not compile (the dashboard's client.js) copied beside their modules
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# Only NODE_ENV is set here: PORT, BUILDCAST_SPOOL_DIR… would silently outrank the same
# settings in a BUILDCAST_CONFIG file (environment wins), so they stay unset.
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# The runtime dependencies need no install scripts either (msgpackr-extract, optional,
# ships prebuilt binaries and bullmq falls back to plain JS without it).
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && mkdir -p /app/.data/spool \
 && chown -R 1000:1000 /app/.data
# spool.dir defaults to .data/spool under the working directory: mount a volume at
# /app/.data so outage-buffered webhooks survive a container restart.
# The loader reads ../../config/default.yaml relative to dist/config/load.js → /app/config.
COPY --from=build /app/dist ./dist
COPY config/default.yaml ./config/default.yaml

# Numeric uid (the image's "node" user) so Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000
# Slim images have no curl; node 20 has fetch. /healthz says the process is alive. It probes
# PORT (default 3000): a config file that moves server.port must set PORT to match, or use PORT.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node as PID 1 receives SIGTERM directly (no npm wrapper that would swallow it) and drains.
# The flags are package.json's start:prod (a test keeps them equal): 4 MB semi-spaces hold
# the young generation to what a webhook's short-lived garbage needs — 25-45 MB less
# resident memory under load than V8's 16 MB default, at the same throughput. GC on the main
# thread only: helper threads cost ~9% more CPU per webhook and ~60 MB resident for no
# throughput on small CPU shares (docs/operations.md).
CMD ["node", "--enable-source-maps", "--max-semi-space-size=4", "--single-threaded-gc", "dist/main.js"]
