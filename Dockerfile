# syntax=docker/dockerfile:1
# Multi-stage: install production dependencies in one stage, copy only what runs into a slim,
# non-root final image. The TypeScript sources run directly (Node 24 strips types), so there is no
# build step and no dev dependency in the image.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    PORT=4000 \
    SQLITE_PATH=/data/gateway.sqlite \
    MEDIA_DIR=/data/media
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1's child-free process and receives SIGTERM directly for a graceful stop.
# The node flags are package.json's start script's (scripts/start-flags.ts; test/dockerfile.test.ts
# checks they match): --max-semi-space-size=32 caps V8's young generation (README, Performance).
CMD ["node", "--experimental-strip-types", "--no-warnings=ExperimentalWarning", "--max-semi-space-size=32", "src/main.ts"]
