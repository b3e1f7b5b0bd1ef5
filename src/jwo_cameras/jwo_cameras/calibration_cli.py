"""Console scripts for camera calibration.

    calibrate_intrinsics --board checkerboard:9x6:0.025 --camera-name cam_01 \
        --output calibration/cam_01.yaml images/*.png
    calibrate_extrinsics --store-config config/london/store.yaml --camera cam_01 \
        --markers floor_markers.yaml floor.png [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from jwo_cameras.calibration import (CalibrationError, calibrate_intrinsics, estimate_mount_pose,
                                     parse_board, read_floor_markers, write_mount_pose)
from jwo_cameras.camera_model import CameraInfoFileError, camera_info_yaml, camera_model
from jwo_common.store_config import StoreConfigError, load_store_config


def _read_gray(path: str):
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise CalibrationError(f'{path}: cannot read as an image')
    return image


def intrinsics_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='calibrate_intrinsics',
                                     description='Camera intrinsics from board images -> '
                                                 'ROS camera_info YAML')
    parser.add_argument('--board', required=True,
                        help='checkerboard:COLSxROWS:SQUARE_M (inner corners) or '
                             'charuco:SQUARESXxSQUARESY:SQUARE_M:MARKER_M[:DICT]')
    parser.add_argument('--camera-name', default='', help='camera_name in the YAML')
    parser.add_argument('--output', required=True, help='camera_info YAML to write')
    parser.add_argument('images', nargs='+')
    options = parser.parse_args(argv)
    try:
        board = parse_board(options.board)
        result = calibrate_intrinsics([(p, _read_gray(p)) for p in options.images], board,
                                      options.camera_name)
    except CalibrationError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    model = result.model
    Path(options.output).write_text(camera_info_yaml(
        model, f'calibrate_intrinsics: {len(result.images_used)} views of {options.board}, '
               f'RMS reprojection error {result.rms_px:.3f} px'), encoding='utf-8')
    for name in result.images_without_board:
        print(f'no board found: {name}')
    print(f'fx={model.fx:.2f} fy={model.fy:.2f} cx={model.cx:.2f} cy={model.cy:.2f} '
          f'distortion={[round(d, 5) for d in model.distortion]}')
    print(f'RMS reprojection error: {result.rms_px:.3f} px over {len(result.images_used)} '
          f'images -> {options.output}')
    return 0


def extrinsics_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='calibrate_extrinsics',
                                     description="A camera's mount pose in map from ArUco "
                                                 'markers at known floor positions, written '
                                                 'into the store config')
    parser.add_argument('--store-config', required=True)
    parser.add_argument('--camera', required=True, help='camera id in the store config')
    parser.add_argument('--markers', required=True,
                        help='YAML: dictionary: DICT_4X4_50, markers: [{id, x, y, size_m, '
                             'yaw_deg}]')
    parser.add_argument('--dry-run', action='store_true', help='print, do not write')
    parser.add_argument('image', help="the camera's view of the floor markers")
    options = parser.parse_args(argv)
    try:
        config = load_store_config(options.store_config)
        if options.camera not in [c.id for c in config.cameras]:
            raise CalibrationError(f'{options.store_config}: no camera {options.camera!r}')
        model = camera_model(config, config.camera(options.camera))
        dictionary, markers = read_floor_markers(options.markers)
        estimate = estimate_mount_pose(_read_gray(options.image), model, markers, dictionary)
        if not options.dry_run:
            write_mount_pose(options.store_config, options.camera, estimate)
    except (CalibrationError, StoreConfigError, CameraInfoFileError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'{options.camera}: x={estimate.x:.4f} y={estimate.y:.4f} z={estimate.z:.4f} m, '
          f'roll={estimate.roll_deg:.3f} pitch={estimate.pitch_deg:.3f} '
          f'yaw={estimate.yaw_deg:.3f} deg from markers {sorted(estimate.markers_used)}, '
          f'RMS reprojection error {estimate.rms_px:.3f} px')
    if not options.dry_run:
        print(f'written to {options.store_config}')
    return 0


def intrinsics_entry() -> None:
    sys.exit(intrinsics_main())


def extrinsics_entry() -> None:
    sys.exit(extrinsics_main())
