"""ocac: close stale contact-center conversations automatically."""

__version__ = "0.1.0"
