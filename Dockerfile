# lb as a small production image: built in one stage, run from another with runtime
# dependencies only, as a non-root user. The base image is a build argument, so that machines
# without a registry can use a local image with Node.js (see test/docker-ingress-image.test.ts).
ARG BASE_IMAGE=node:24-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="lb" \
      org.opencontainers.image.description="A dynamic L4/L7 load balancer for Node.js, driven by lb.yaml and Docker labels" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.documentation="README.md"
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY lb.yaml /etc/lb/lb.yaml
# A numeric user: the image needs no /etc/passwd entry. To read a mounted Docker socket, run with
# --group-add <the socket's group id>, or point providers.docker.endpoint at a socket proxy.
USER 1000:1000
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["run", "--config", "/etc/lb/lb.yaml"]
