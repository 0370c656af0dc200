"""IMAX lighteval tasks as a file, for `lighteval ... --custom-tasks eval_tasks/imax_tasks.py`.

The same table as the module `imax_hub.lighteval_tasks` (prefer `--custom-tasks imax_hub.lighteval_tasks`).
Dataset: environment IMAX_DATASET (a folder written by `imax build`, or a Hub repo id; default ./imax).
"""

from imax_hub.lighteval_tasks import TASKS_TABLE  # noqa: F401
