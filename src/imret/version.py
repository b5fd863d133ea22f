"""imret's version string, recorded in index manifests and checkpoints."""

__version__ = "0.1.0"
