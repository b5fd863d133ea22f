from .data_sample import DataSample, format_label, format_score

__all__ = ["DataSample", "format_label", "format_score"]
