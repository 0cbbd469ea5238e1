# syntax=docker/dockerfile:1
# Build stage. cgo is on: statusdb parses SQL with PostgreSQL's own parser
# (pg_query_go, C), so the runtime image needs glibc.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/heliosproxy ./cmd/heliosproxy

# Runtime stage: distroless with glibc, non-root.
FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/heliosproxy /usr/local/bin/heliosproxy
USER nonroot:nonroot
# PostgreSQL clients, REST API and dashboard, Prometheus metrics.
EXPOSE 6432 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/local/bin/heliosproxy", "health", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/heliosproxy"]
CMD ["run", "--config", "/etc/heliosproxy/heliosproxy.toml"]
