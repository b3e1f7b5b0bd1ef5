"""Store simulator: seeded scenarios -> rosbag2 (MCAP) with ground truth; bag tools."""
