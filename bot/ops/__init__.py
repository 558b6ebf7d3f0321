"""Operations: health and readiness, Prometheus metrics, event-loop lag, and logging with secrets redacted."""
