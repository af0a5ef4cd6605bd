# The manager image: two static binaries, run as a non-root user on an empty base image.
#
#   docker build -t lxc-template-manager:dev .
#
# The runtime stage holds what a distroless static nonroot image holds and nothing else: CA
# certificates, a passwd entry for the unprivileged user 65532, the manager at /manager (the
# path the kustomize Deployment and the Helm chart run) and the web console at /console (the
# chart's console.enabled runs it from the same image).
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ENV GOTOOLCHAIN=local
WORKDIR /workspace

# Modules first, so that a source change reuses the downloaded modules.
COPY go.mod go.sum ./
RUN go mod download

COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/

# GOARCH follows the build's --platform (buildx sets TARGETARCH); without one, the builder's own.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o manager ./cmd/manager
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o console ./cmd/console
RUN echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' > passwd \
 && echo 'nonroot:x:65532:' > group

FROM scratch
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /workspace/passwd /etc/passwd
COPY --from=builder /workspace/group /etc/group
COPY --from=builder /workspace/manager /manager
COPY --from=builder /workspace/console /console
# Numeric, so that the kubelet can verify runAsNonRoot.
USER 65532:65532
ENTRYPOINT ["/manager"]
