# flowers12 (12 Oxford Flowers species, 224x224 photos): train on `train`, evaluate on `test` where
# every test image queries the other test images (its own copy in the gallery is left out).
# Data: $IMRET_DATA_ROOT/flowers12 (default ~/imret_data/flowers12; `imret train --data-root DIR`).
dataset_type = 'CustomDataset'
data_root = '{{$IMRET_DATA_ROOT:~/imret_data}}/flowers12'

# EfficientNet-Lite (TF weights) normalisation: (x - 127.5) / 127.5; images are decoded as BGR
data_preprocessor = dict(
    num_classes=12,
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.5, 1.0), interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

test_dataset = dict(type=dataset_type, data_root=data_root, data_prefix='test', pipeline=test_pipeline)

query_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=test_dataset,
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# the gallery is the query set itself
gallery_dataloader = query_dataloader

# a query's gt_label is its species; gallery items with the same species are relevant
val_dataloader = query_dataloader
val_evaluator = [
    dict(type='RetrievalRecall', topk=(1, 5), gallery_labels=test_dataset, exclude_self=True),
    dict(type='RetrievalAveragePrecision', topk=None, gallery_labels=test_dataset, exclude_self=True),
]

test_dataloader = val_dataloader
test_evaluator = val_evaluator
