"""The entry gate camera (ROS-free): rgb8 frames of the scanner's view, with the shopper's
app QR code held up to it around their arrival. The payload is the app's (see
`jwo_cameras.entry_gate`): the account token, then `+<guests>` for a party.

The phone comes into view `SCAN_LEAD_S` before the arrival (the moment of the scan),
stays about still and readable for `SCAN_STEADY_S` around it, and leaves; while moving it
is tilted and motion-blurred, so not every frame decodes. One code per party.

    for frame in gate_frames(result, config.camera('gate_cam')):
        frame.t_s, frame.rgb        # (480, 640, 3) uint8
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from jwo_common.store_config import Camera
from jwo_sim.render import CameraFrame, frame_times_s
from jwo_sim.simulation import SimulationResult

SCAN_LEAD_S = 1.0
SCAN_STEADY_S = 0.6
SCAN_TRAIL_S = 0.4
_GATE_STREAM = 300


def gate_scanner_cameras(result: SimulationResult) -> list[Camera]:
    """The cameras named as `scanner_camera` of an entry gate."""
    ids = {gate.scanner_camera for gate in result.config.gates_of_kind('entry')
           if gate.scanner_camera}
    return [camera for camera in result.config.cameras if camera.id in ids]


def app_code_payload(account_token: str, party_size: int) -> str:
    """What the shopper's app encodes: one code lets the whole party in."""
    return account_token if party_size <= 1 else f'{account_token}+{party_size - 1}'


def qr_image(payload: str) -> np.ndarray:
    """The QR code's modules (uint8, 0 = dark), with the standard 4-module quiet zone."""
    code = cv2.QRCodeEncoder.create().encode(payload)
    return cv2.copyMakeBorder(code, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=255)


def _background(width: int, height: int) -> np.ndarray:
    """The scanner's fixed view: a lit gate pillar fading to the dimmer store behind."""
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.array([150, 150, 158], np.float32), np.array([96, 92, 88], np.float32)
    return np.broadcast_to(top + (bottom - top) * rows, (height, width, 3)).astype(np.uint8)


def _phone(width: int, height: int, payload: str, centre: tuple[float, float],
           side_px: float, angle_deg: float, tilt: float, blur_px: int,
           base: np.ndarray) -> np.ndarray:
    """`base` with a phone screen showing the code drawn at `centre`."""
    code = qr_image(payload)
    module_px = 8
    screen = cv2.resize(code, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
    border = screen.shape[0] // 6
    screen = cv2.copyMakeBorder(screen, border, 2 * border, border, border,
                                cv2.BORDER_CONSTANT, value=235)
    screen = cv2.copyMakeBorder(screen, border // 3, border // 3, border // 3, border // 3,
                                cv2.BORDER_CONSTANT, value=25)
    screen_rgb = cv2.cvtColor(screen, cv2.COLOR_GRAY2RGB)
    h, w = screen.shape
    scale = side_px / w
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32) - [w / 2, h / 2]
    corners[:, 1] *= 1.0 - tilt * (corners[:, 0] > 0)   # a phone turned a little away
    rotation = cv2.getRotationMatrix2D((0.0, 0.0), angle_deg, scale)[:, :2]
    placed = (corners @ rotation.T + np.asarray(centre)).astype(np.float32)
    warp = cv2.getPerspectiveTransform(
        np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), placed)
    image = cv2.warpPerspective(screen_rgb, warp, (width, height))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), warp, (width, height))
    if blur_px > 1:
        # Only the moving phone smears; another phone held still beside it stays sharp.
        kernel = np.zeros((blur_px, blur_px), np.float32)
        kernel[blur_px // 2, :] = 1.0 / blur_px
        image = cv2.filter2D(image, -1, kernel)
        mask = cv2.filter2D(mask, -1, kernel)
    alpha = mask[..., None].astype(np.float32) / 255.0
    return (image * alpha + base * (1.0 - alpha) + 0.5).astype(np.uint8)


def gate_frames(result: SimulationResult, camera: Camera) -> Iterator[CameraFrame]:
    """Every delivered frame of the gate camera (frame drops per the fault knobs)."""
    scenario = result.scenario
    width, height = camera.width, camera.height
    background = _background(width, height)
    index = [c.id for c in result.config.cameras].index(camera.id)
    rng = np.random.default_rng([scenario.seed, _GATE_STREAM + index])
    scans = []
    for shopper in scenario.shoppers:
        scans.append((shopper.arrival_s,
                      app_code_payload(shopper.account_token, shopper.party_size),
                      rng.uniform(0.35, 0.65, 2) * (width, height),
                      float(rng.uniform(0.28, 0.42) * height), float(rng.uniform(-25, 25)),
                      float(rng.uniform(0.0, 0.15))))
    for t_s in frame_times_s(camera.fps, scenario.duration_s):
        if rng.random() < scenario.faults.camera_frame_drop_probability:
            continue
        image = background
        in_view = [scan for scan in scans
                   if 0.0 <= t_s - (scan[0] - SCAN_LEAD_S) <= SCAN_LEAD_S + SCAN_TRAIL_S]
        # The phone being scanned is held closest to the scanner: drawn last, on top.
        in_view.sort(key=lambda scan: abs(t_s - scan[0]) <= SCAN_STEADY_S / 2)
        for arrival_s, payload, centre, side, angle, tilt in in_view:
            steady = abs(t_s - arrival_s) <= SCAN_STEADY_S / 2
            # Outside the steady moment the phone swings in from below and out again.
            offset = 0.0 if steady else min(abs(t_s - arrival_s) - SCAN_STEADY_S / 2, 0.5) \
                * height * 1.2
            image = _phone(width, height, payload, (centre[0], centre[1] + offset), side,
                           angle if steady else angle * 1.8, tilt, 1 if steady else 9, image)
        yield CameraFrame(camera.id, float(t_s), None, image)
