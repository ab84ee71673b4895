"""govshare's HTTP face: the API (web/api.py), the operator endpoints (web/ops.py), served by
uvicorn under `govshare up` or alone with `govshare run api`."""
