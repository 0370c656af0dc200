"""lmms-eval hooks for the IMAX tasks (written by `imax lmms-tasks`; the logic is imax_hub.lmms_tasks')."""

from imax_hub.lmms_tasks import aggregators, doc_to_text, doc_to_visual, process_docs_functions, process_results

globals().update(process_docs_functions())
globals().update(aggregators())
