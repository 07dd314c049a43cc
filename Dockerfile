# Herald: one image for `herald serve` and the CLI.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    HERALD_HOST=0.0.0.0 \
    HERALD_PORT=8080 \
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
