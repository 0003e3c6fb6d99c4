# One container running the whole service with its embedded Postgres.
FROM oven/bun:1 AS deps
WORKDIR /app
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --production

FROM oven/bun:1
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
# curl for the health check; a font so the offline hero image (SVG → PNG via sharp) has lettering;
# a non-root user, since Postgres refuses to run as root.
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system studio && useradd --system --gid studio --home-dir /app studio \
    && mkdir -p /data && chown studio:studio /data
COPY --from=deps /app/node_modules ./node_modules
COPY --chown=studio:studio . .
USER studio
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
# bun receives SIGTERM directly (exec form) and shuts down in order.
CMD ["bun", "src/main.ts"]
