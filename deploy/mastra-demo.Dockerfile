# syntax=docker/dockerfile:1
# The demo Mastra server (tests/fixtures/mastra: support-agent and echo-agent on an offline mock
# model, in-memory storage) as an image, for deploy/compose.yaml and the Kubernetes examples.
#   docker build -f deploy/mastra-demo.Dockerfile -t mastra-demo:0.1.0 .   (from the repo root)
# Your own Mastra app takes its place in a real deployment.
FROM node:22.14.0-bookworm-slim
WORKDIR /app
COPY tests/fixtures/mastra/package.json tests/fixtures/mastra/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tests/fixtures/mastra/server.mjs tests/fixtures/mastra/mock-model.mjs ./
ENV NODE_ENV=production MASTRA_DB_URL=:memory:
# The node image's unprivileged user.
USER 1000:1000
EXPOSE 4111
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:4111/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "server.mjs", "--port", "4111", "--host", "0.0.0.0"]
