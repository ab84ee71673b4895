"""Each department's signing key for a benchmark run, as its systems would hold them: made once
per run in a directory the service's first directory registers (GOVSHARE_DEPARTMENT_KEYS) and
the workload is signed with. The peer signs and checks nothing (it has no such rule)."""
from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path

from events.signing import DepartmentKey, Keystore
from processors.profiles import load_all


@cache
def key_dir() -> Path:
    made = Path(tempfile.mkdtemp(prefix="govshare-bench-keys-"))
    for department in load_all().departments:
        DepartmentKey.generate(department).write(made / f"{department}.pem")
    return made


def department_keys() -> Keystore:
    return Keystore(key_dir())
