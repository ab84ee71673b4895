"""govshare over HTTP: the API (web/app.py and the modules beside it), the operator endpoints
(web/ops.py) and the supervisor dashboard (web/dashboard/), served by uvicorn under `govshare up`
or alone with `govshare run api`."""
