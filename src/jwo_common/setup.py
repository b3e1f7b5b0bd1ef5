from glob import glob

from setuptools import find_packages, setup

package_name = 'jwo_common'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={package_name: ['fastdds_profile.xml']},
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
    description='Shared pieces of jwo: store config loader, TF publishing, QoS, node start-up.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'check_store_config = jwo_common.check_store_config:main',
            'container = jwo_common.container:main',
            'jwo_keys = jwo_common.keys_cli:main',
            'jwo_launch = jwo_common.launcher:launch',
        ],
    },
)
