# postfix-tls-relay in a container: the tool plus openssl, gnupg, rsync and openssh-client, running as
# a non-root user in the mounted project directory. Usage: README.md, section "Docker".
#   docker build -t postfix-tls-relay --build-arg UID="$(id -u)" --build-arg GID="$(id -g)" .

ARG NODE_IMAGE=node:20-bookworm-slim

# Build stage: compile and pack exactly the tarball `npm pack` gives users (prepare runs tsc).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY bin/ bin/
COPY lib/ lib/
COPY openssl-conf/ openssl-conf/
COPY templates/ templates/
COPY examples/ examples/
COPY README.md SECURITY.md ./
RUN mkdir /pkg && npm pack --pack-destination /pkg

FROM ${NODE_IMAGE}
# The same package list CI installs with `install-system-packages.sh test`, runtime part only.
COPY scripts/install-system-packages.sh /usr/local/sbin/install-system-packages.sh
RUN /usr/local/sbin/install-system-packages.sh runtime && rm -rf /var/lib/apt/lists/*

COPY --from=build /pkg/ /tmp/pkg/
RUN npm install --global --no-audit --no-fund /tmp/pkg/postfix-tls-relay-*.tgz && rm -rf /tmp/pkg /root/.npm

# Run as your own uid, so that files written into the mounted project are yours, and ssh (which needs
# a passwd entry for its uid) and gpg (which checks the owner of its home) are content.
ARG UID=1000
ARG GID=1000
RUN userdel --remove node \
    && { getent group "$GID" >/dev/null || groupadd --gid "$GID" relay; } \
    && useradd --uid "$UID" --gid "$GID" --create-home --shell /usr/sbin/nologin relay
ENV HOME=/home/relay GNUPGHOME=/home/relay/.gnupg
USER relay
WORKDIR /project
ENTRYPOINT ["postfix-tls-relay"]
CMD ["--help"]
