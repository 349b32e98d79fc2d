"""One event per transaction, each paying the signed checkpoint; prints "<seconds> 0".

argv: state dir, XDG_CONFIG_HOME, count."""

import os
import sys
import time

os.environ["XDG_CONFIG_HOME"] = sys.argv[2]
from switchman.store import Store

store = Store.open(sys.argv[1])
count = int(sys.argv[3])
t0 = time.perf_counter()
for i in range(count):
    store.write(lambda tx, i=i: tx.audit("task_created", "info", task_id=f"bench-{i}"))
print(f"{time.perf_counter() - t0} 0")
