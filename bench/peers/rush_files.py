"""Rush serving one folder of files (bench/files.py sets RUSH_BENCH_FILES to the folder)."""

import os

from rush import Rush

app = Rush(static_folder=os.environ["RUSH_BENCH_FILES"], static_url="/static")
