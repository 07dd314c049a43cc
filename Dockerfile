# Herald: one image for `herald serve` and the CLI.
# Ingress (and source webhooks, /healthz, /readyz) listens on 8080 on every interface. The resource
# API listens on 8081 on the container's loopback only, so nothing outside the container reaches it
# without credentials: use the CLI inside (`docker exec CONTAINER node bin/herald.js get channels`),
# or give the API a token file (HERALD_TOKEN_FILE) and HERALD_API_HOST=0.0.0.0 to publish 8081.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    HERALD_HOST=0.0.0.0 \
    HERALD_PORT=8080 \
    HERALD_API_HOST=127.0.0.1 \
    HERALD_API_PORT=8081 \
    HERALD_SERVER=http://127.0.0.1:8081 \
    HERALD_DATA_DIR=/var/lib/herald
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY adapters ./adapters
COPY sources ./sources
RUN mkdir -p /var/lib/herald && chown node:node /var/lib/herald
USER node
EXPOSE 8080
VOLUME ["/var/lib/herald"]
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/herald.js"]
CMD ["serve"]
