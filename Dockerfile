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
# No production dependency needs an install script, and `prepare` is for a git checkout only. --omit=optional keeps
# out TypeScript, an optional peer of @nestjs/swagger.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY scripts/start.sh ./scripts/start.sh
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
# The start script execs node, with the Node options it holds (the same as `npm start`): node is PID 1 and gets
# `docker stop`'s SIGTERM itself, and ends the streams and exits within SHUTDOWN_TIMEOUT_MS.
CMD ["sh", "scripts/start.sh"]
