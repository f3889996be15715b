"""The HTTP API (FastAPI): ``create_app`` builds it; ``rollout serve`` runs it with uvicorn.

Routers: ``tasks`` (list, show, transitions, attachments), ``filings`` (备案), ``reviews``
(复核签署), ``extensions`` (延期申请), ``contacts`` (联络人), ``audit`` (留痕). The edge of
the layering: it imports ``rollout.db`` and opens one unit of work per write.
"""

from rollout.api.app import create_app

__all__ = ["create_app"]
