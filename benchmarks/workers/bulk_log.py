"""Build an audit log of N correctly chained, signed rows plus a signed checkpoint.

argv: state dir, XDG_CONFIG_HOME, benchmarks dir, N."""

import os
import sys

sys.path.insert(0, sys.argv[3])
from bench_audit_verify import bulk_rows  # noqa: E402

from switchman.checkpoint import writer as checkpoints  # noqa: E402
from switchman.store.sqlite import Store  # noqa: E402

os.environ["XDG_CONFIG_HOME"] = sys.argv[2]
s = Store.open(sys.argv[1])
bulk_rows(s, int(sys.argv[4]))
assert checkpoints.write_checkpoint(s).written
