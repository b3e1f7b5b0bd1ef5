"""The Fast DDS profile the stack runs with (`fastdds_profile.xml`, read by rmw_fastrtps)."""

from __future__ import annotations

import os
from pathlib import Path

PROFILE = Path(__file__).with_name('fastdds_profile.xml')
PROFILE_VARIABLE = 'FASTRTPS_DEFAULT_PROFILES_FILE'


def use_stack_dds_profile(env: dict[str, str] | None = None) -> None:
    """Points Fast DDS at jwo's profile in `env` (default: this process's environment, so
    call it before `rclpy.init()`), unless a profile is named there already: an
    integrator's own wins."""
    (os.environ if env is None else env).setdefault(PROFILE_VARIABLE, str(PROFILE))
