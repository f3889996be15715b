"""HTML pages of rollout (Jinja2 templates in ``rollout/api/templates``, static files in
``rollout/api/static``, both found by package path; nothing loaded from a CDN).

``install_pages(app)`` mounts ``/static`` and the page routers:

- ``auth``: ``/login``, ``/logout``, ``/`` (the user's start page);
- ``dashboard``: ``/dashboard`` (provincial office), ``/dashboard/county/{code}``,
  ``/dashboard/assessment`` (XLSX/CSV download);
- ``units``: ``/city/{code}``, ``/unit/{code}``, feed-URL creation;
- ``tasks``: ``/tasks/{id}`` and its action forms (transitions, sign-off, filing);
- ``outbox``: ``/outbox``;
- ``feeds``: ``/calendar/{token}.ics``.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from rollout.api.pages import auth, dashboard, feeds, outbox, tasks, units


def install_pages(app: FastAPI) -> None:
    """Mount the static files and include every page router on ``app``."""
    app.mount("/static", StaticFiles(packages=[("rollout.api", "static")]), name="static")
    for module in (auth, dashboard, units, tasks, outbox, feeds):
        app.include_router(module.router)
