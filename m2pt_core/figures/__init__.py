"""Plotly figures of M2PT analyses, shared by the dashboard and the notebooks.

Every function takes the DataFrames of m2pt_core.analysis (never a model) and returns a
go.Figure with titles, axis labels and units (accuracy in percent, λ dimensionless), template
"plotly_white".
"""
from ._style import empty
from .confusion import confusion_heatmap
from .knockout import knockout_heatmap
from .lambdas import lambda_heatmap, lambda_trajectory_plot
from .predictions import per_class_bars, prediction_bars
from .sweep import global_scale_curve, sweep_curves
from .training import training_curves
from .weights import cosine_by_layer, weight_norm_bars

__all__ = [
    "confusion_heatmap", "empty", "knockout_heatmap", "lambda_heatmap", "lambda_trajectory_plot", "per_class_bars", "prediction_bars",
    "global_scale_curve", "sweep_curves", "training_curves", "cosine_by_layer", "weight_norm_bars",
]
