"""ImageRetrievalInferencer(return_datasamples=True): DataSamples agreeing with the dict results."""
from __future__ import annotations

from pathlib import Path

import torch

from imret.apis import ImageRetrievalInferencer
from imret.structures import DataSample


def test_return_datasamples_matches_the_dict_results(default_model, photo_folder):
    photos = [str(p) for p in sorted(photo_folder.iterdir())]
    inferencer = ImageRetrievalInferencer(default_model, prototype=str(photo_folder))
    queries = photos[:3]
    as_dicts = inferencer(queries, topk=4)
    samples = inferencer(queries, topk=4, return_datasamples=True)
    assert len(samples) == len(queries)
    gallery = inferencer.prototype_vecs
    for query, sample, matches in zip(queries, samples, as_dicts):
        assert isinstance(sample, DataSample)
        assert sample.metainfo["img_path"] == query
        # pred_score: similarity to every prototype in prototype order (cosine, brute force)
        feature = torch.from_numpy(default_model.encode_queries([query])).reshape(1, -1)
        expected = torch.nn.functional.cosine_similarity(feature, gallery)
        assert sample.pred_score.shape == (len(photos),)
        torch.testing.assert_close(sample.pred_score, expected, atol=1e-4, rtol=1e-4)
        # pred_label: the topk indices, best first, the same as the dict results
        assert sample.pred_label.tolist() == [m["sample_idx"] for m in matches]
        assert Path(photos[int(sample.pred_label[0])]) == Path(query)  # a photo finds itself first
