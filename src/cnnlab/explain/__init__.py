"""Seeing inside a trained network: Grad-CAM (gradcam), its faithfulness check (deletion), feature maps
(features), learned kernels (filters), classic image kernels (kernels), pictures (images), the report gallery
(gallery), and the four explanations as Python functions returning pictures that show inline in Jupyter (api).

`load_run` (from cnnlab.train.inference, shared with `cnnlab predict`) is the one way these get a run's model and
turn image files into its inputs, so an explanation sees exactly what `cnnlab predict` feeds the network.
"""

from cnnlab.train.inference import LoadedRun, load_run

__all__ = ["LoadedRun", "load_run"]
