"""Python steps of the pipeline, one per module, each a function named after its module."""
