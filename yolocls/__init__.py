"""yolocls: labelled images in, a deployed YOLOv8 image classifier out."""

import os as _os

from yolocls.core.limits import opencv_pixel_cap as _opencv_pixel_cap

__version__ = "0.1.0"

# OpenCV reads its decode limit once, when it is first imported: set it before any module imports cv2,
# so no OpenCV decode path can allocate more than the pixel limit (formats Pillow cannot pre-check).
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(_opencv_pixel_cap()))
