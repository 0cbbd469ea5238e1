# syntax=docker/dockerfile:1
# Build stage: a static binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/heliosproxy ./cmd/heliosproxy

# Runtime stage: distroless static, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/heliosproxy /usr/local/bin/heliosproxy
USER nonroot:nonroot
# PostgreSQL clients, REST API and dashboard, Prometheus metrics.
EXPOSE 6432 8080 9090
ENTRYPOINT ["/usr/local/bin/heliosproxy"]
CMD ["run", "--config", "/etc/heliosproxy/heliosproxy.toml"]
