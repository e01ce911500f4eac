"""Image input/output: reading/writing 8/16-bit gray/RGB images, pairing by stem, YCbCr."""
from mmfuse.io.atomic import write_bytes, write_text
from mmfuse.io.color import replace_luminance, rgb_to_gray, rgb_to_ycbcr, ycbcr_to_rgb
from mmfuse.io.image import (
    IMAGE_EXTENSIONS,
    Normalization,
    check_writable,
    read_image,
    read_raw,
    to_float,
    write_image,
)
from mmfuse.io.pairing import MODALITY_FOLDERS, Pair, PairSet, find_modality_dirs, find_pairs, list_images, pair_folders
from mmfuse.io.padding import pad_to_multiple, crop_to

__all__ = [
    "IMAGE_EXTENSIONS",
    "MODALITY_FOLDERS",
    "Normalization",
    "Pair",
    "PairSet",
    "check_writable",
    "crop_to",
    "find_modality_dirs",
    "find_pairs",
    "list_images",
    "pad_to_multiple",
    "pair_folders",
    "read_image",
    "read_raw",
    "replace_luminance",
    "rgb_to_gray",
    "rgb_to_ycbcr",
    "to_float",
    "write_bytes",
    "write_image",
    "write_text",
    "ycbcr_to_rgb",
]
