from glob import glob

from setuptools import find_packages, setup

package_name = 'jwo_fusion'

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
    description='Shopper tracking, identity from the gate, carts, TF and RViz markers, human review.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'store_markers = jwo_fusion.store_markers_node:main',
            'fusion = jwo_fusion.fusion_node:main',
            'store_view = jwo_fusion.store_view_node:main',
            'jwo_review = jwo_fusion.review_cli:main',
        ],
    },
)
