from glob import glob

from setuptools import find_packages, setup

package_name = 'jwo_sim'

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
    description='Store simulator and bag tools.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'jwo_sim_generate = jwo_sim.cli:generate',
            'jwo_bag_info = jwo_sim.cli:bag_info',
            'jwo_bag_play = jwo_sim.bag_play:play',
            'jwo_bag_record = jwo_sim.bag_record:record',
            'jwo_bag_purge = jwo_sim.cli:bag_purge',
        ],
    },
)
