"""Executes one notebook with the tslab kernel through nbclient and writes it, even when a cell fails.

tslab reports a failing cell's message only in that cell's stderr stream, so on failure this prints
the cell number, its first line and its stderr/traceback, then exits 1.
Usage: /usr/bin/python3 scripts/execute_notebook.py SRC.ipynb DST.ipynb TIMEOUT_SECONDS
"""
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

src, dst, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
nb = nbformat.read(src, as_version=4)
client = NotebookClient(nb, kernel_name="tslab", timeout=timeout, resources={"metadata": {"path": os.path.dirname(os.path.abspath(src))}})
failed = None
try:
    client.execute()
except CellExecutionError as e:
    failed = str(e).strip().splitlines()[-1] if str(e).strip() else "cell failed"
finally:
    nbformat.write(nb, dst)

if failed is not None:
    # The failing cell is the last one that ran; tslab puts its message in stderr or an error output.
    ran = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")]
    if ran:
        i, cell = ran[-1]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        text = " | ".join((o.get("text") or (o.get("ename", "") + ": " + o.get("evalue", ""))).strip().replace("\n", " | ") for o in errors) or failed
        print(f"{os.path.basename(src)}: cell {i} ({first[:60]}) failed: {text[-2000:]}", file=sys.stderr)
    else:
        print(f"{os.path.basename(src)}: {failed}", file=sys.stderr)
    sys.exit(1)
