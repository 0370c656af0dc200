"""Model-card templates (IMAX, DMAX, pseudo-IMAX training data); shipped as ``imax_hub.model_cards``."""
