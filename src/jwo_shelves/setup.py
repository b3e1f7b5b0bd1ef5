from glob import glob

from setuptools import find_packages, setup

package_name = 'jwo_shelves'

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
    description='Shelf sensor nodes, pick/put event detection and item identification.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'shelf_frames = jwo_shelves.shelf_frames_node:main',
            'load_cells = jwo_shelves.load_cell_node:main',
            'rfid_reader = jwo_shelves.rfid_node:main',
            'shelf_events = jwo_shelves.shelf_events_node:main',
        ],
    },
)
