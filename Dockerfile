# syntax=docker/dockerfile:1
# Two stages: the build stage has the dev dependencies and compiles TypeScript; the runtime stage has only
# the production dependencies and dist/. scripts/docker-equivalent.sh runs these same steps without Docker
# (it reads the COPY and HEALTHCHECK lines of this file), and CI runs it.

# Pinned to a patch release: .ci/run and scripts/docker-equivalent.sh read this line and run the same Node.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The image has no git: the `prepare` script (git hooks) is a no-op here and never fails.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# No production dependency needs an install script, and `prepare` is for a git checkout only. @nestjs/swagger is a
# build-time dependency (it writes dist/openapi.json and the Swagger UI page) and an optional peer of Terminus,
# TypeScript one of it: --omit=optional keeps both out.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
# With the API docs `npm run build` generated (dist/openapi.json, dist/openapi.yaml, dist/swagger-ui/).
COPY --from=build /app/dist ./dist
# Which build this is, for the start-up log, GET /health and pillarbox_build_info (release.yml passes both; empty:
# package.json's version and 'unknown'). Late in the file: a new commit rebuilds no layer above.
ARG APP_VERSION=""
ARG GIT_COMMIT=""
ENV APP_VERSION=${APP_VERSION} GIT_COMMIT=${GIT_COMMIT}
LABEL org.opencontainers.image.title="pillarbox-event-dispatcher" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${APP_VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}"
# Files stay owned by root: the service only reads them.
USER node
EXPOSE 8080
# Liveness through Node's own fetch: the slim image has no curl. Bounded by its own 4 s timeout.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/live',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and gets `docker stop`'s SIGTERM itself: main.ts ends the streams and exits within SHUTDOWN_TIMEOUT_MS.
# A young generation of 2 MB semi-spaces instead of V8's default (up to 64 MB each on a large host), which would
# otherwise stay resident: about 25 MB less RSS at start (docs/performance.md). Maglev's compile jobs freed on the
# main thread instead of V8's worker threads, whose malloc arenas kept that memory: about 7 kB less RSS per
# subscriber after a wave of 2,000 (docs/performance.md). The same flags as `npm start`.
CMD ["node", "--max-semi-space-size=2", "--no-maglev-destroy-on-background", "dist/main.js"]
