"""imax-hub: rebuild the IMAX/DMAX chest X-ray datasets from your own PhysioNet downloads."""

__version__ = "0.1.0"
