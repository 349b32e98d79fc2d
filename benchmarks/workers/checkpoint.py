"""One event per transaction, each paying the signed checkpoint; prints "<seconds> 0".

argv: state dir, XDG_CONFIG_HOME, count."""

import os
import sys
import time

os.environ["XDG_CONFIG_HOME"] = sys.argv[2]
from switchman.state import open_state_dir

store = open_state_dir(sys.argv[1])  # with the checkpoint writer, as commands open it
count = int(sys.argv[3])
t0 = time.perf_counter()
for i in range(count):
    store.write(lambda tx, i=i: tx.audit("task_created", "info", task_id=f"bench-{i}"))
print(f"{time.perf_counter() - t0} 0")
