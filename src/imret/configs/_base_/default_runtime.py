# Runtime defaults shared by imret's configs (mmengine Runner arguments); the same type names and
# fields as mmpretrain's runtime base, so mmpretrain configs port by changing their `_base_` paths.
default_scope = 'imret'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # one checkpoint per epoch, each written completely before an older one is deleted;
    # retrieval recipes also keep the best one by Recall@1
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # match grids of validation/test queries; `imret test --show-dir DIR` enables it
    visualization=dict(type='VisualizationHook', enable=False),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # 'nccl' on GPUs; `imret train --launcher pytorch` switches to 'gloo' when CUDA is absent
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
