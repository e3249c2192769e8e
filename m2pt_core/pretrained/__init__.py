"""Pretrained ViT weights (timm, DeiT, MAE, AudioMAE, Point-MAE, VideoMAE, official M2PT, ours) as
the starting point of a target model: ``load_pretrained_target(source, num_classes, ...)``."""
from .layouts import Canonical, canonicalize
from .report import LoadReport
from .sources import describe_weights
from .target import load_pretrained_target

__all__ = ["Canonical", "canonicalize", "LoadReport", "load_pretrained_target", "describe_weights"]
