# SGD with 5 warm-up epochs and cosine decay over 100 epochs, tuned for a total batch size of 64.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0005, nesterov=True))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, by_epoch=True, begin=5, end=100),
]

train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# scales the learning rate by the actual total batch size when enabled (imret train --auto-scale-lr)
auto_scale_lr = dict(base_batch_size=64)
