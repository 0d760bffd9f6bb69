#!/bin/sh
# Build the PCL anchor (needs Debian's libpcl-dev: apt-get install libpcl-dev).
set -e
cd "$(dirname "$0")"
g++ -O2 -DNDEBUG -std=c++17 -o vccs_anchor vccs_anchor.cpp \
    -I/usr/include/pcl-1.13 -I/usr/include/eigen3 \
    -lpcl_segmentation -lpcl_features -lpcl_search -lpcl_kdtree -lpcl_octree -lpcl_common
