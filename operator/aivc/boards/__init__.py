"""The Grafana boards as files and pictures: panel checks, PNG rendering from a real Prometheus.

Tooling for `make dashboards` and the tests, not part of the running system: neither
`aivc run` nor `aivc operator` imports it (a test holds them to that).
"""
