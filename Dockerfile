# Manifest node image. Build: docker build -t manifest .
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY node ./node
COPY client ./client
# The extras: gRPC health checks (node/checks) and the xDS feed (--xds, node/mesh).
RUN pip install --no-cache-dir '.[grpc,mesh]' && rm -rf /src

RUN useradd --system --uid 10001 --home-dir /var/lib/manifest --create-home manifest
USER manifest
WORKDIR /var/lib/manifest

# Every setting is also an env var MANIFEST_<FLAG>; these are the image defaults.
ENV MANIFEST_API=0.0.0.0:8500 \
    MANIFEST_RAFT=0.0.0.0:8501 \
    MANIFEST_DATA_DIR=/var/lib/manifest/data \
    MANIFEST_LOG_FORMAT=json
VOLUME ["/var/lib/manifest/data"]
EXPOSE 8500 8501

HEALTHCHECK --interval=5s --timeout=2s --start-period=10s --retries=3 \
  CMD python -c "import os,urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ.get('MANIFEST_API','0.0.0.0:8500').rsplit(':',1)[1] + '/v1/health', timeout=2)" || exit 1

STOPSIGNAL SIGTERM
ENTRYPOINT ["manifest"]
CMD ["node"]
