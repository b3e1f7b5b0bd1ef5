"""Freed, fragmented heap memory goes back to the system when released (glibc and /proc:
the Linux hosts jwo runs on)."""

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
