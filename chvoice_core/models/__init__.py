"""U-Net models, the variant table's architectures, and checkpoint I/O."""
from .footprint import count_macs, count_params
from .unet import UNet, UNetConfig, inference_layout, start_as_identity

__all__ = ["UNet", "UNetConfig", "count_macs", "count_params", "inference_layout",
           "start_as_identity"]
