# The Exo realtime daemon as an image. Rules:
# - the build stage installs and builds exactly as .ci/run and README do: pnpm 12.4.2 from npm,
#   `pnpm install --frozen-lockfile`, then `pnpm build` (every package compiled to dist/);
# - the runtime stage keeps the compiled dist/ folders and production dependencies only, and runs
#   as the unprivileged `node` user;
# - configuration is environment variables only (docs/operations.md); the image sets none, so the
#   daemon's defaults hold: WebSockets on 8080, /health, /ready and /metrics on 8081;
# - SIGTERM drains (close 1001, exit 0 within 10 s): give `docker stop` at least that long.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
RUN npm install -g pnpm@12.4.2
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm build
# Production dependencies only, from the store the install above filled (pnpm prune does not
# work across a workspace, so the node_modules folders are laid anew).
RUN find . -name node_modules -type d -prune -exec rm -rf {} + \
 && pnpm install --frozen-lockfile --prod --offline

FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json /app/pnpm-workspace.yaml ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/packages/protocol/package.json ./packages/protocol/
COPY --from=build --chown=node:node /app/packages/protocol/dist ./packages/protocol/dist
COPY --from=build --chown=node:node /app/packages/protocol/node_modules ./packages/protocol/node_modules
COPY --from=build --chown=node:node /app/packages/room-core/package.json ./packages/room-core/
COPY --from=build --chown=node:node /app/packages/room-core/dist ./packages/room-core/dist
COPY --from=build --chown=node:node /app/packages/room-core/node_modules ./packages/room-core/node_modules
COPY --from=build --chown=node:node /app/apps/ws-server/package.json ./apps/ws-server/
COPY --from=build --chown=node:node /app/apps/ws-server/dist ./apps/ws-server/dist
COPY --from=build --chown=node:node /app/apps/ws-server/node_modules ./apps/ws-server/node_modules
USER node
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTH_PORT || 8081) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "apps/ws-server/dist/main.js"]
