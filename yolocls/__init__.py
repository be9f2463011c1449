"""yolocls: labelled images in, a deployed YOLOv8 image classifier out.

Importing yolocls changes no global state (environment, library settings): the programs it provides set what
they need at their entry points (`yolocls.core.limits.set_opencv_pixel_cap`).
"""

__version__ = "0.1.0"
