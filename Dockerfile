# postfix-tls-relay in a container: the tool plus openssl, gnupg, rsync and openssh-client, running as
# your uid in the mounted project directory. Usage: README.md, section "Docker".
#   docker build -t postfix-tls-relay --build-arg UID="$(id -u)" --build-arg GID="$(id -g)" .

ARG NODE_IMAGE=node:20-bookworm-slim

# Build stage: compile and pack exactly the tarball `npm pack` gives users (prepare runs tsc), then
# install it with exactly the dependency versions of package-lock.json (npm ci, no devDependencies).
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
RUN mkdir /opt/postfix-tls-relay \
    && tar -xzf /pkg/postfix-tls-relay-*.tgz -C /opt/postfix-tls-relay --strip-components=1 \
    && cp package-lock.json /opt/postfix-tls-relay/ \
    && cd /opt/postfix-tls-relay \
    && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && rm package-lock.json

FROM ${NODE_IMAGE}
# The same package list CI installs with `install-system-packages.sh test`, runtime part only.
COPY scripts/install-system-packages.sh /usr/local/sbin/install-system-packages.sh
RUN /usr/local/sbin/install-system-packages.sh runtime \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin

# The installed tree from the build stage, laid out as `npm install --global` would; no registry here.
COPY --from=build /opt/postfix-tls-relay/ /usr/local/lib/node_modules/postfix-tls-relay/
RUN ln -s ../lib/node_modules/postfix-tls-relay/bin/postfix-tls-relay.js /usr/local/bin/postfix-tls-relay \
    && postfix-tls-relay --help >/dev/null

# Run as your own uid, so that files written into the mounted project are yours, and ssh (which needs
# a passwd entry for its uid) and gpg (which checks the owner of its home) are content. UID 0 (a root
# shell's `id -u`): the container's root, with /home/relay as its home, so the README's mounts fit.
ARG UID=1000
ARG GID=1000
RUN case "$UID$GID" in *[!0-9]* | '') echo "UID and GID must be numbers, e.g. --build-arg UID=\"\$(id -u)\" --build-arg GID=\"\$(id -g)\"" >&2; exit 2 ;; esac \
    && userdel --remove node 2>/dev/null; \
    if [ "$UID" -eq 0 ]; then \
        mkdir -m 0700 /home/relay && sed -i 's|^root:\([^:]*\):0:0:\([^:]*\):[^:]*:|root:\1:0:0:\2:/home/relay:|' /etc/passwd \
        && [ "$(getent passwd 0 | cut -d: -f6)" = /home/relay ]; \
    else \
        { getent group "$GID" >/dev/null || groupadd --gid "$GID" relay; } \
        && useradd --uid "$UID" --gid "$GID" --create-home --shell /usr/sbin/nologin relay; \
    fi
ENV HOME=/home/relay GNUPGHOME=/home/relay/.gnupg
USER ${UID}:${GID}
WORKDIR /project
ENTRYPOINT ["postfix-tls-relay"]
CMD ["--help"]
