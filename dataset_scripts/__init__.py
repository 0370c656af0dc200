"""Dataset-repo templates (card, eval.yaml) and the build entry point; shipped as ``imax_hub.dataset_scripts``."""
