"""detectron2 config for DICL: the method's keys and the one params -> CfgNode builder.

``add_dicl_config`` adds the keys detectron2 does not have (after
``projects/TridentNet``: docs/style.md, "Extend detectron2, don't fork it");
``build_cfg`` maps the validated ``dicl`` settings onto a CfgNode, reusing
detectron2's own keys wherever one exists (RPN, ROI heads, solver, ResNet). Nothing
else in the track reads params.

The values have one home, conf/person_search (composed into params.yaml, validated by
``pipeline.models.dicl.settings``, whose fields have no defaults): ``add_dicl_config``
declares each DICL key with the placeholder ``UNSET`` (None, a type yacs accepts in any
later merge), ``build_cfg`` fills every one from the settings or the data and refuses a
config that still holds a placeholder (tests/test_defaults.py checks both).
"""

from __future__ import annotations

from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg

from pipeline.models.dicl.settings import DiclSettings
from pipeline.runtime import BatchPlan

# Placeholder of every DICL key until build_cfg sets it: the values are the settings'.
UNSET = None


def add_dicl_config(cfg: CN) -> None:
    """Declare DICL's keys in a detectron2 config, each ``UNSET``; ``build_cfg`` fills them."""
    cfg.MODEL.DICL = CN()
    # RPN's minimum proposal side at test (MIN_SIZE is training's; official 16 vs 8).
    cfg.MODEL.DICL.RPN_MIN_SIZE_TEST = UNSET
    # RoI pooling of the scene branch: "deform" (mmcv DeformRoIPoolPack) or "align".
    cfg.MODEL.DICL.ROI_POOLER = UNSET
    # Width of the deformable pooling's offset branch (mmcv deform_fc_channels).
    cfg.MODEL.DICL.DEFORM_POOL_FC_CHANNELS = UNSET
    # Offset scale of the deformable pooling (x RoI width / height; mmcv gamma).
    cfg.MODEL.DICL.DEFORM_POOL_GAMMA = UNSET
    # Deformable convolutions in the C4/C5 fusion neck (official use_dconv).
    cfg.MODEL.DICL.NECK_DEFORMABLE = UNSET
    # Deformable 3x3 convolution applied to every RoI (and crop) feature map first.
    cfg.MODEL.DICL.HEAD_DEFORMABLE = UNSET
    # Size of the L2-normalised re-id embedding (a Linear over the pooled RoI map).
    cfg.MODEL.DICL.EMBEDDING_DIM = UNSET
    # Siamese crop branch: re-encode each box cropped (RoIAlign) from the image.
    cfg.MODEL.DICL.CROP_ENABLED = UNSET
    # Crop size (height, width) in pixels; at stride 16 it gives the RoI map's size.
    cfg.MODEL.DICL.CROP_SIZE = UNSET

    # Occlusion-invariant contrast: mask random grid cells of GT boxes in the scene image.
    cfg.MODEL.DICL.OIC = CN()
    cfg.MODEL.DICL.OIC.ENABLED = UNSET
    # Probability that a given GT box is masked.
    cfg.MODEL.DICL.OIC.PROB = UNSET
    # Grid (rows, columns) laid over each box; cells are drawn from it.
    cfg.MODEL.DICL.OIC.GRID = UNSET
    # Number of cells filled with the image channel mean per masked box.
    cfg.MODEL.DICL.OIC.CELLS = UNSET

    cfg.MODEL.DICL.LOSS = CN()
    # Hybrid-memory contrast (loss_id): switch, weight, temperature, momentum, kept mass.
    cfg.MODEL.DICL.LOSS.MEMORY_ENABLED = UNSET
    cfg.MODEL.DICL.LOSS.MEMORY_WEIGHT = UNSET
    cfg.MODEL.DICL.LOSS.MEMORY_TEMPERATURE = UNSET
    cfg.MODEL.DICL.LOSS.MEMORY_MOMENTUM = UNSET
    cfg.MODEL.DICL.LOSS.MEMORY_HARD_NEGATIVE_MASS = UNSET
    # SIC many-to-one (loss_sim): 1 - cos(proposal, its GT crop).
    cfg.MODEL.DICL.LOSS.SIC_M2O_ENABLED = UNSET
    cfg.MODEL.DICL.LOSS.SIC_M2O_WEIGHT = UNSET
    # SIC dense (loss_kl): symmetric KL of proposal and crop similarity matrices.
    cfg.MODEL.DICL.LOSS.SIC_DENSE_ENABLED = UNSET
    cfg.MODEL.DICL.LOSS.SIC_DENSE_WEIGHT = UNSET
    # Hardest triplet with the background-negative term.
    cfg.MODEL.DICL.LOSS.TRIPLET_ENABLED = UNSET
    cfg.MODEL.DICL.LOSS.TRIPLET_WEIGHT = UNSET
    cfg.MODEL.DICL.LOSS.TRIPLET_MARGIN = UNSET
    cfg.MODEL.DICL.LOSS.TRIPLET_BG_WEIGHT = UNSET
    # Number of memory slots = number of training boxes (set from the data).
    cfg.MODEL.DICL.MEMORY_SIZE = UNSET

    # Pseudo labels before each epoch: Jaccard (k1, k2) + DBSCAN at three eps.
    cfg.MODEL.DICL.PSEUDO = CN()
    # Neighbour search of the Jaccard distance: "exact", "int8" or "ivf" (approximate).
    cfg.MODEL.DICL.PSEUDO.KNN = UNSET
    cfg.MODEL.DICL.PSEUDO.K1 = UNSET
    cfg.MODEL.DICL.PSEUDO.K2 = UNSET
    cfg.MODEL.DICL.PSEUDO.EPS = UNSET
    cfg.MODEL.DICL.PSEUDO.MIN_SAMPLES = UNSET
    # Context rule: boxes of one image never share a cluster.
    cfg.MODEL.DICL.PSEUDO.CONTEXT = UNSET
    # Reliability criterion over the three eps.
    cfg.MODEL.DICL.PSEUDO.RELIABILITY = UNSET
    # Leading epochs with one label per slot (instance contrast) before clustering.
    cfg.MODEL.DICL.PSEUDO.INSTANCE_EPOCHS = UNSET
    # sha256 pinning MODEL.WEIGHTS (the pretrained backbone file), or "".
    cfg.MODEL.DICL.WEIGHTS_SHA256 = UNSET

    # Multi-scale training: (long, short) pairs, one drawn per image.
    cfg.INPUT.DICL_TRAIN_SCALES = UNSET
    # Test scale (long, short).
    cfg.INPUT.DICL_TEST_SCALE = UNSET
    # Iterations per epoch (set from the data: pseudo labels and checkpoints are per epoch).
    cfg.SOLVER.ITERS_PER_EPOCH = UNSET
    # Global gradient-norm clipping over all parameters (mmdet grad_clip max_norm=10);
    # 0 disables. detectron2's own CLIP_GRADIENTS clips each parameter separately.
    cfg.SOLVER.DICL_CLIP_GLOBAL_NORM = UNSET
    # Learning-rate factor of the deformable convolutions' offset branches.
    cfg.SOLVER.DICL_DEFORM_OFFSET_LR_FACTOR = UNSET
    # Detections with at least this score enter the search evaluation.
    cfg.TEST.DICL_SEARCH_SCORE_THRESH = UNSET
    # Images per forward pass when given boxes are embedded (queries, memory initialisation).
    cfg.TEST.DICL_BATCH_IMAGES = UNSET


def _norm_name(norm: str, device: str) -> str:
    """detectron2's name for a params norm: ``SyncBN`` on CPU is its ``naiveSyncBN_N``.

    torch's ``SyncBatchNorm`` runs on GPUs only; detectron2's naive one all-reduces
    the batch statistics with any backend (gloo on CPU), weighting each process by
    its sample count (``stats_mode="N"``): ranks holding different numbers of RoIs
    give the statistics of their union. One process is plain batch norm either way.
    """
    if norm == "SyncBN" and device == "cpu":
        return "naiveSyncBN_N"
    return norm


def build_cfg(
    settings: DiclSettings,
    *,
    iters_per_epoch: int,
    memory_size: int,
    device: str = "cpu",
) -> CN:
    """The frozen detectron2 config of a DICL run.

    Args:
        settings: the resolved ``dicl`` section.
        iters_per_epoch: iterations in one pass over the training images.
        memory_size: number of training boxes (memory slots).
        device: ``cpu`` or ``cuda``.
    """
    m, t = settings.model, settings.train
    cfg = get_cfg()
    add_dicl_config(cfg)
    cfg.MODEL.DEVICE = device
    cfg.MODEL.META_ARCHITECTURE = "DICLPersonSearch"
    # Pretrained backbone (loaded by pipeline.models.dicl.weights, not detectron2's checkpointer).
    cfg.MODEL.WEIGHTS = m.backbone.weights or ""
    cfg.MODEL.DICL.WEIGHTS_SHA256 = m.backbone.weights_sha256 or ""
    cfg.MODEL.PIXEL_MEAN = list(m.pixel_mean)
    cfg.MODEL.PIXEL_STD = list(m.pixel_std)
    cfg.INPUT.FORMAT = "BGR"

    cfg.MODEL.BACKBONE.NAME = "build_dicl_backbone"
    cfg.MODEL.BACKBONE.FREEZE_AT = m.backbone.freeze_at
    cfg.MODEL.RESNETS.DEPTH = m.backbone.depth
    cfg.MODEL.RESNETS.NORM = _norm_name(m.backbone.norm, device)
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = m.backbone.width
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = m.backbone.width * (4 if m.backbone.depth >= 50 else 1)
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = m.backbone.width
    cfg.MODEL.RESNETS.STRIDE_IN_1X1 = m.backbone.stride_in_1x1
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res4", "res5"]
    cfg.MODEL.DICL.NECK_DEFORMABLE = m.neck_deformable

    cfg.MODEL.PROPOSAL_GENERATOR.NAME = "DICLRPN"
    cfg.MODEL.PROPOSAL_GENERATOR.MIN_SIZE = m.rpn.min_box_size
    cfg.MODEL.DICL.RPN_MIN_SIZE_TEST = m.rpn.min_box_size_test
    cfg.MODEL.RPN.IN_FEATURES = ["s16"]
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [list(m.rpn.anchor_sizes)]
    cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS = [list(m.rpn.aspect_ratios)]
    cfg.MODEL.RPN.PRE_NMS_TOPK_TRAIN = m.rpn.pre_nms_topk_train
    cfg.MODEL.RPN.POST_NMS_TOPK_TRAIN = m.rpn.post_nms_topk_train
    cfg.MODEL.RPN.PRE_NMS_TOPK_TEST = m.rpn.pre_nms_topk_test
    cfg.MODEL.RPN.POST_NMS_TOPK_TEST = m.rpn.post_nms_topk_test
    cfg.MODEL.RPN.NMS_THRESH = m.rpn.nms_thresh
    cfg.MODEL.RPN.BATCH_SIZE_PER_IMAGE = m.rpn.batch_size_per_image
    cfg.MODEL.RPN.BBOX_REG_LOSS_TYPE = "smooth_l1"  # beta 0: L1, as the official RPN
    cfg.MODEL.RPN.SMOOTH_L1_BETA = 0.0

    cfg.MODEL.ROI_HEADS.NAME = "DICLROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["s16"]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    # IoU < neg: background, [neg, pos): ignored, >= pos: person (official gt_assigner).
    cfg.MODEL.ROI_HEADS.IOU_THRESHOLDS = [m.roi.neg_iou, m.roi.pos_iou]
    cfg.MODEL.ROI_HEADS.IOU_LABELS = [0, -1, 1]
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = m.roi.batch_size_per_image
    cfg.MODEL.ROI_HEADS.POSITIVE_FRACTION = m.roi.positive_fraction
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = m.roi.score_thresh_test
    cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST = m.roi.nms_thresh_test
    cfg.MODEL.ROI_HEADS.PROPOSAL_APPEND_GT = True
    cfg.TEST.DETECTIONS_PER_IMAGE = m.roi.detections_per_image
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = tuple(m.roi.pooler_resolution)
    cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE = "ROIAlignV2"
    cfg.MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO = 0
    cfg.MODEL.DICL.ROI_POOLER = m.roi.pooler
    cfg.MODEL.DICL.DEFORM_POOL_FC_CHANNELS = m.roi.deform_fc_channels
    cfg.MODEL.DICL.DEFORM_POOL_GAMMA = m.roi.deform_gamma
    cfg.MODEL.ROI_BOX_HEAD.NUM_CONV = m.head.num_convs
    cfg.MODEL.ROI_BOX_HEAD.CONV_DIM = m.head.conv_dim
    cfg.MODEL.ROI_BOX_HEAD.NORM = _norm_name(m.head.norm, device)
    cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # stds 0.1, 0.1, 0.2, 0.2
    cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE = "smooth_l1"
    cfg.MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA = 0.0
    cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_WEIGHT = m.head.box_loss_weight
    cfg.MODEL.DICL.HEAD_DEFORMABLE = m.head.deformable
    cfg.MODEL.DICL.EMBEDDING_DIM = m.head.embedding_dim
    cfg.MODEL.DICL.CROP_ENABLED = m.crop.enabled
    cfg.MODEL.DICL.CROP_SIZE = tuple(m.crop.size)

    o = settings.oic
    cfg.MODEL.DICL.OIC.ENABLED = o.enabled
    cfg.MODEL.DICL.OIC.PROB = o.prob
    cfg.MODEL.DICL.OIC.GRID = tuple(o.grid)
    cfg.MODEL.DICL.OIC.CELLS = o.cells

    loss, L = settings.loss, cfg.MODEL.DICL.LOSS
    L.MEMORY_ENABLED, L.MEMORY_WEIGHT = loss.memory.enabled, loss.memory.weight
    L.MEMORY_TEMPERATURE = loss.memory.temperature
    L.MEMORY_MOMENTUM = loss.memory.momentum
    L.MEMORY_HARD_NEGATIVE_MASS = loss.memory.hard_negative_mass
    L.SIC_M2O_ENABLED = loss.sic_many_to_one.enabled
    L.SIC_M2O_WEIGHT = loss.sic_many_to_one.weight
    L.SIC_DENSE_ENABLED, L.SIC_DENSE_WEIGHT = loss.sic_dense.enabled, loss.sic_dense.weight
    L.TRIPLET_ENABLED, L.TRIPLET_WEIGHT = loss.triplet.enabled, loss.triplet.weight
    L.TRIPLET_MARGIN = loss.triplet.margin
    L.TRIPLET_BG_WEIGHT = loss.triplet.background_weight
    cfg.MODEL.DICL.MEMORY_SIZE = memory_size

    p = settings.pseudo_labels
    cfg.MODEL.DICL.PSEUDO.K1, cfg.MODEL.DICL.PSEUDO.K2 = p.k1, p.k2
    cfg.MODEL.DICL.PSEUDO.KNN = p.knn
    cfg.MODEL.DICL.PSEUDO.EPS = tuple(p.eps)
    cfg.MODEL.DICL.PSEUDO.MIN_SAMPLES = p.min_samples
    cfg.MODEL.DICL.PSEUDO.CONTEXT = p.context
    cfg.MODEL.DICL.PSEUDO.RELIABILITY = p.reliability
    cfg.MODEL.DICL.PSEUDO.INSTANCE_EPOCHS = p.instance_epochs

    cfg.INPUT.DICL_TRAIN_SCALES = tuple(tuple(s) for s in t.scales)
    cfg.INPUT.RANDOM_FLIP = "horizontal" if t.flip else "none"
    cfg.INPUT.DICL_TEST_SCALE = tuple(settings.test.scale)
    cfg.TEST.DICL_SEARCH_SCORE_THRESH = settings.test.search_score_thresh
    cfg.TEST.DICL_BATCH_IMAGES = settings.test.batch_images

    cfg.SOLVER.IMS_PER_BATCH = t.ims_per_batch
    cfg.SOLVER.BASE_LR = t.lr
    cfg.SOLVER.MOMENTUM = t.momentum
    cfg.SOLVER.WEIGHT_DECAY = t.weight_decay
    cfg.SOLVER.WEIGHT_DECAY_NORM = t.weight_decay  # mmdet decays every parameter alike
    cfg.SOLVER.GAMMA = t.gamma
    cfg.SOLVER.ITERS_PER_EPOCH = iters_per_epoch
    cfg.SOLVER.MAX_ITER = t.epochs * iters_per_epoch
    cfg.SOLVER.STEPS = tuple(s * iters_per_epoch for s in t.lr_steps if s < t.epochs)
    cfg.SOLVER.WARMUP_ITERS = min(t.warmup_iters, cfg.SOLVER.MAX_ITER)
    cfg.SOLVER.WARMUP_FACTOR = t.warmup_factor
    cfg.SOLVER.WARMUP_METHOD = "linear"
    cfg.SOLVER.CLIP_GRADIENTS.ENABLED = False
    cfg.SOLVER.DICL_CLIP_GLOBAL_NORM = t.grad_clip or 0.0
    cfg.SOLVER.DICL_DEFORM_OFFSET_LR_FACTOR = m.deform_offset_lr_factor
    cfg.DATALOADER.NUM_WORKERS = t.num_workers
    unset = unset_keys(cfg)
    if unset:
        raise ValueError(f"build_cfg left DICL keys unset: {', '.join(unset)}")
    cfg.freeze()
    return cfg


def dicl_keys() -> list[str]:
    """The dotted names of the leaf keys ``add_dicl_config`` declares."""
    base, cfg = get_cfg(), get_cfg()
    add_dicl_config(cfg)
    return sorted(set(_leaves(cfg)) - set(_leaves(base)))


def unset_keys(cfg: CN) -> list[str]:
    """The DICL keys of ``cfg`` that still hold the ``UNSET`` placeholder."""
    leaves = _leaves(cfg)
    return [key for key in dicl_keys() if leaves[key] is UNSET]


def _leaves(node: CN, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, CN):
            out.update(_leaves(value, f"{name}."))
        else:
            out[name] = value
    return out


def apply_runtime(cfg: CN, plan: BatchPlan, precision: str) -> CN:
    """``cfg`` for this process under ``runtime.batch_rule`` / ``lr_scaling`` / ``precision``.

    ``SOLVER.IMS_PER_BATCH`` becomes the per-process batch (this project feeds each process
    that many images), ``BASE_LR`` the plan's lr, ``WARMUP_ITERS`` the same number of images
    in iterations of the plan's total batch (detectron2's ``auto_scale_workers`` rule), and
    ``SOLVER.AMP.ENABLED`` turns on bfloat16 autocast. One fp32 process: ``cfg`` unchanged.
    """
    cfg = cfg.clone()
    cfg.defrost()
    cfg.SOLVER.IMS_PER_BATCH = plan.per_process
    cfg.SOLVER.BASE_LR = plan.lr(cfg.SOLVER.BASE_LR)
    cfg.SOLVER.WARMUP_ITERS = min(plan.warmup_iters(cfg.SOLVER.WARMUP_ITERS), cfg.SOLVER.MAX_ITER)
    cfg.SOLVER.AMP.ENABLED = precision == "bf16"
    cfg.freeze()
    return cfg
