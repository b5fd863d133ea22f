"""UniversalVisualizer / VisualizationHook draw match grids through mmengine's visualizer backends."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image

from imret.apis.match_grid import draw_match_grid
from imret.datasets import CustomDataset
from imret.registry import HOOKS, TRANSFORMS, VISUALIZERS
from imret.structures import DataSample


@pytest.fixture
def gallery(shared_datasets_root):
    return CustomDataset(data_root=str(shared_datasets_root / "flowers12" / "test" / "bluebell"),
                         with_label=False, lazy_init=False)


def _query(gallery) -> tuple[np.ndarray, DataSample]:
    image = np.asarray(Image.open(gallery.get_data_info(0)["img_path"]).convert("RGB"))
    scores = torch.linspace(0.0, 0.5, len(gallery))
    scores[7], scores[3] = 0.95, 0.95  # a tie: the lower gallery index ranks first
    sample = DataSample(metainfo=dict(img_path=gallery.get_data_info(0)["img_path"])).set_pred_score(scores)
    return image, sample


def test_retrieval_grid_goes_through_the_backends(gallery, tmp_path):
    with DefaultScope.overwrite_default_scope("imret"):
        visualizer = VISUALIZERS.build(dict(type="UniversalVisualizer", name="imret-test-vis",
                                            vis_backends=[dict(type="LocalVisBackend")], save_dir=str(tmp_path)))
    image, sample = _query(gallery)
    drawn = visualizer.visualize_image_retrieval(image, sample, gallery, topk=3, name="query", step=2)
    last = len(gallery) - 1
    expected_cells = [(gallery.get_data_info(i)["img_path"], score, gallery.get_data_info(i)["img_path"].split("/")[-1])
                      for i, score in ((3, 0.95), (7, 0.95), (last, 0.5))]
    expected = np.asarray(draw_match_grid(Image.fromarray(image), expected_cells,
                                          query_label=sample.metainfo["img_path"].split("/")[-1]))
    np.testing.assert_array_equal(drawn, expected)  # the same drawing as imret's match grids
    written = list(tmp_path.rglob("query_2.png"))
    assert len(written) == 1  # LocalVisBackend: <save_dir>/vis_data/vis_image/<name>_<step>.png
    np.testing.assert_array_equal(np.asarray(Image.open(written[0]).convert("RGB")), expected)

    out = tmp_path / "direct.png"
    visualizer.visualize_image_retrieval(image, sample, gallery, topk=3, out_file=str(out))
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")), expected)
    with pytest.raises(ValueError, match="draw_score"):
        visualizer.visualize_image_retrieval(image, sample, gallery, draw_score=False)


def test_old_mmpretrain_names_are_aliases():
    from imret.datasets.transforms import PackInputs
    from imret.engine.hooks import VisualizationHook
    from imret.visualization import UniversalVisualizer

    with DefaultScope.overwrite_default_scope("imret"):
        assert isinstance(TRANSFORMS.build(dict(type="PackClsInputs")), PackInputs)
        assert VISUALIZERS.get("ClsVisualizer") is UniversalVisualizer
        assert isinstance(HOOKS.build(dict(type="VisualizationHook", enable=False)), VisualizationHook)
