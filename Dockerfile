# syntax=docker/dockerfile:1
# Hail in a container: `docker build -t hail .`, then
#   docker run -d --name hail -p 1883:1883 -p 8080:8080 -v hail-data:/var/lib/hail \
#     -e HAIL_MEDIA_ANNOUNCE=<host address> -p 40000-40099:40000-40099/udp \
#     -e HAIL_MEDIA_PORT_MAX=40099 hail
# Users: docker exec -it hail hail user add alice (through the daemon's admin socket).
# README, "Running as a service". test/dockerfile.test.ts checks this file.

# Build: dev dependencies, the TypeScript compiler and esbuild (the web app), used here only.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: level and werift's native parts ship prebuilt binaries.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json index.ts ./
COPY protocol protocol
COPY broker broker
COPY media media
COPY bridge bridge
COPY server server
COPY bin bin
COPY client client
COPY web web
RUN npm run build

# Run: runtime dependencies and dist/ (the compiled code and the built web app), as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HAIL_DATA=/var/lib/hail
WORKDIR /opt/hail
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts \
    && npm cache clean --force \
    && printf '#!/bin/sh\nexec node /opt/hail/dist/bin/hail.js "$@"\n' > /usr/local/bin/hail \
    && chmod 0755 /usr/local/bin/hail \
    && mkdir -p /var/lib/hail \
    && chown node:node /var/lib/hail \
    && chmod 0700 /var/lib/hail
COPY --from=build /src/dist dist
USER node
VOLUME ["/var/lib/hail"]
# MQTT, HTTP (WebSocket, /healthz, /metrics), MQTT over TLS, secure WebSocket, the media relay's UDP ports.
EXPOSE 1883 8080 8883 8443 40000-40999/udp
# /healthz answers 200 while the broker listens (503 while Redis is unreachable); the port follows HAIL_HTTP_PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HAIL_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# hail handles SIGTERM itself (a graceful stop, exit 0) and SIGHUP (reload), as PID 1 too.
ENTRYPOINT ["node", "/opt/hail/dist/bin/hail.js"]
CMD ["start"]
