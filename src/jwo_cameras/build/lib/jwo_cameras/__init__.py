"""Calibrated camera nodes (RealSense, OpenCV, playback), calibration tools, camera extrinsics as static TF, overhead shopper detection and the entry-gate QR scanner."""
