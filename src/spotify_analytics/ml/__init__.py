"""Models and pattern discovery over Silver: the shared protocol lives in ``evaluation``."""
