"""govshare over HTTP: the supervisor dashboard (and, beside it, the API)."""
