from .hashing import file_sha256
from .provenance import ENCODING_VERSION, RECORD_ONLY_KEYS, provenance_differences
from .register_all_modules import register_all_modules, use_imret_scope_if_unset

__all__ = ["file_sha256", "ENCODING_VERSION", "RECORD_ONLY_KEYS", "provenance_differences",
           "register_all_modules", "use_imret_scope_if_unset"]
