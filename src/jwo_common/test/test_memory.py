"""Freed, fragmented heap memory goes back to the system when released (glibc and /proc:
the Linux hosts jwo runs on)."""

import subprocess
import sys

from jwo_common.memory import release_free_memory


def resident_mb() -> float:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise AssertionError('no VmRSS in /proc/self/status')


def test_freed_blocks_pinned_by_survivors_are_given_back():
    # 300 MB of 100 kB buffers (heap, not mmap), one in a hundred kept: every free hole
    # sits below a live block, so glibc cannot shrink its heap from the top.
    blocks = [bytearray(100_000) for _ in range(3000)]
    survivors = blocks[::100]
    del blocks
    held = resident_mb()
    assert release_free_memory()
    assert resident_mb() < held - 200, 'freed memory still resident after the release'
    assert len(survivors) == 30


FRAMES_SCRIPT = '''
import sys
from jwo_common.memory import bound_heap_growth
if sys.argv[1] == 'bounded':
    assert bound_heap_growth()
def resident_mb():
    with open('/proc/self/status') as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith('VmRSS:'))
big = bytearray(8_000_000)      # a large block freed: glibc raises its mmap threshold to it
del big
frames, kept = [], []
for _ in range(200):            # 1 MB frames, each followed by a small block that lives on
    frames.append(bytearray(1_000_000))
    kept.append(bytearray(2000))
held = resident_mb()
del frames
print(held - resident_mb())
'''


def released_mb(mode: str) -> float:
    result = subprocess.run([sys.executable, '-c', FRAMES_SCRIPT, mode], capture_output=True,
                            text=True, check=True, timeout=60)
    return float(result.stdout)


def test_freed_frame_buffers_leave_at_once_when_heap_growth_is_bounded():
    # Without the bound, glibc serves the frames from its heap once a large block was freed,
    # and the small survivors between them keep the freed frames resident.
    assert released_mb('dynamic') < 50
    assert released_mb('bounded') > 180
