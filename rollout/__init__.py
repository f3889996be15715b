"""rollout: turn a government implementation plan into tracked, dated obligations."""

__version__ = "0.1.0"
