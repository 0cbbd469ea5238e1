// Package deploy holds no code. Beside it are the files an operator drops
// into the stack they run: prometheus/ (alert rules, their promtool unit
// tests, a scrape configuration), grafana/ (the dashboard and its
// provisioning) and compose/ (HeliosProxy, PostgreSQL, Prometheus and
// Grafana together). Its tests check those files for real: promtool, a
// Prometheus server scraping the heliosproxy binary in front of real
// PostgreSQL, the dashboard's PromQL against a real scrape, and the compose
// file decoded strictly.
package deploy
