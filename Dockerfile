# syntax=docker/dockerfile:1
# Build: compile TypeScript with the dev dependencies, then keep only production ones.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json nest-cli.json ormconfig.ts ./
COPY src ./src
COPY test/finbox-sandbox ./test/finbox-sandbox
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

# Run: compiled JavaScript only, as an unprivileged user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node receives SIGTERM directly (no npm in between), so shutdown drains requests and the reconcile pass.
# The heap flags are those of `npm start` (see README, Operations: memory).
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=128", "dist/src/main.js"]
