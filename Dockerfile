# Tollgate in a container: the packages are built and packed in the clone, then installed
# from their tarballs with npm, exactly as "Install from packages" in the README does.
#   docker build -t tollgate .
#   docker run -p 4000:4000 -v tollgate-data:/data -e ANTHROPIC_API_KEY -e TOLLGATE_MASTER_KEY tollgate
# The tests cannot run a container engine here: packages/cli/test/dockerfile.test.ts checks
# this file's structure against the workspace, and packed-install.test.ts runs its steps.

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles when no prebuilt binary can be downloaded.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN npx -y pnpm@12.4.2 install --frozen-lockfile && npx -y pnpm@12.4.2 build
RUN mkdir /packs && for p in core storage plugin-auth plugin-cost plugin-prometheus plugin-logging plugin-console cli; do \
      (cd packages/$p && npx -y pnpm@12.4.2 pack --pack-destination /packs) || exit 1; \
    done
WORKDIR /app
RUN echo '{"private":true,"type":"module"}' > package.json && npm install --omit=dev --no-audit --no-fund /packs/*.tgz

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app /app
RUN mkdir /data && chown node:node /data
USER node
ENV HOST=0.0.0.0 PORT=4000 TOLLGATE_DATA_DIR=/data NODE_ENV=production
VOLUME /data
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=5s CMD ["node", "-e", "fetch('http://127.0.0.1:4000/health/readiness').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/app/node_modules/.bin/tollgate"]
