"""Operations: health checks, metrics, JSON logs with request ids."""
