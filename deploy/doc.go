// Package deploy holds no code. Beside it are the files an operator drops
// into the stack they run: prometheus/ (alert rules, their promtool unit
// tests, a scrape configuration), grafana/ (the dashboard and its
// provisioning), compose/ (HeliosProxy, PostgreSQL, Prometheus and
// Grafana together) and kubernetes/ (three replicas as one cluster). Its
// tests check those files for real: promtool, a Prometheus server
// scraping the heliosproxy binary in front of real PostgreSQL, the
// dashboard's PromQL against a real scrape, and the compose file and the
// Kubernetes manifests decoded strictly.
package deploy
