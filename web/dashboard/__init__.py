"""The supervisor dashboard: server-rendered pages over the projections, read-only.

An app includes `router` (pages under /dashboard, its stylesheet under /dashboard/static) and
may replace `viewer` through `app.dependency_overrides` to say who may look."""
from web.dashboard.routes import router, viewer

__all__ = ["router", "viewer"]
