"""imret: image-to-image retrieval toolbox."""
from .utils.register_all_modules import use_imret_scope_when_mmengine_loads
from .version import __version__

# config type names (CustomDataset, ...) resolve outside a runner too; a scope the user set is kept
use_imret_scope_when_mmengine_loads()

__all__ = ["__version__"]
