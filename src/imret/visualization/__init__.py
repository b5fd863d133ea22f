from .retrieval_drawing import draw_retrieval, ranked_matches
from .universal_visualizer import UniversalVisualizer

__all__ = ["UniversalVisualizer", "draw_retrieval", "ranked_matches"]
