from glob import glob

from setuptools import find_packages, setup

package_name = 'jwo_cameras'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/config', glob('config/*')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='jwo maintainers',
    maintainer_email='maintainers@jwo.invalid',
    description='Calibrated camera nodes, calibration tools, camera extrinsics as static TF, shopper detection and the entry-gate QR scanner.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'camera_extrinsics = jwo_cameras.extrinsics_node:main',
            'camera = jwo_cameras.camera_node:main',
            'entry_gate = jwo_cameras.gate_node:main',
            'shopper_detection = jwo_cameras.detection_node:main',
            'calibrate_intrinsics = jwo_cameras.calibration_cli:intrinsics_entry',
            'calibrate_extrinsics = jwo_cameras.calibration_cli:extrinsics_entry',
        ],
    },
)
