// PCL anchor for bench/bench_preprocess.py: times PCL's own SupervoxelClustering::extract (VCCS)
// and RegionGrowing on one cloud and writes the per-point labels. Our measurement code, built
// against Debian's libpcl-dev (PCL 1.13); see bench/README.md, "Preprocessing".
//
// usage: vccs_anchor vccs IN OUT voxel_resolution seed_resolution spatial normal colour repeats
//        vccs_anchor rg   IN OUT normal_radius neighbours angle_deg curvature repeats
// IN  (raw, little endian): int64 N, float32 xyz[N*3], uint8 rgb[N*3], float32 normal[N*3]
// OUT: int32 label[N] (VCCS: 0 = no supervoxel, as PCL's getLabeledCloud; RG: -1 = no region)
// stdout: one JSON line with the median and all times in seconds and the segment count.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <pcl/features/normal_3d.h>
#include <pcl/point_cloud.h>
#include <pcl/point_types.h>
#include <pcl/search/kdtree.h>
#include <pcl/segmentation/region_growing.h>
#include <pcl/segmentation/supervoxel_clustering.h>

using Clock = std::chrono::steady_clock;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

static void print_times(const std::vector<double>& t, std::size_t segments) {
  std::printf("{\"median_s\": %.6f, \"times_s\": [", median(t));
  for (std::size_t i = 0; i < t.size(); ++i) std::printf(i ? ", %.6f" : "%.6f", t[i]);
  std::printf("], \"segments\": %zu}\n", segments);
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (!((mode == "vccs" && argc == 10) || (mode == "rg" && argc == 9))) {
    std::cerr << "usage: vccs_anchor vccs IN OUT voxel seed spatial normal colour repeats\n"
                 "       vccs_anchor rg IN OUT normal_radius neighbours angle_deg curvature repeats\n";
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::int64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), sizeof n);
  std::vector<float> xyz(3 * n), nrm(3 * n);
  std::vector<std::uint8_t> rgb(3 * n);
  in.read(reinterpret_cast<char*>(xyz.data()), 4 * 3 * n);
  in.read(reinterpret_cast<char*>(rgb.data()), 3 * n);
  in.read(reinterpret_cast<char*>(nrm.data()), 4 * 3 * n);
  if (!in) {
    std::cerr << "could not read " << argv[2] << "\n";
    return 1;
  }
  const int repeats = std::atoi(argv[argc - 1]);
  std::vector<std::int32_t> out(n, 0);
  std::vector<double> times;

  if (mode == "vccs") {
    pcl::PointCloud<pcl::PointXYZRGBA>::Ptr cloud(new pcl::PointCloud<pcl::PointXYZRGBA>);
    pcl::PointCloud<pcl::Normal>::Ptr normals(new pcl::PointCloud<pcl::Normal>);
    cloud->resize(n);
    normals->resize(n);
    for (std::int64_t i = 0; i < n; ++i) {
      auto& p = (*cloud)[i];
      p.x = xyz[3 * i]; p.y = xyz[3 * i + 1]; p.z = xyz[3 * i + 2];
      p.r = rgb[3 * i]; p.g = rgb[3 * i + 1]; p.b = rgb[3 * i + 2]; p.a = 255;
      auto& q = (*normals)[i];
      q.normal_x = nrm[3 * i]; q.normal_y = nrm[3 * i + 1]; q.normal_z = nrm[3 * i + 2];
    }
    std::size_t count = 0;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = Clock::now();
      pcl::SupervoxelClustering<pcl::PointXYZRGBA> vox(std::atof(argv[4]), std::atof(argv[5]));
      vox.setUseSingleCameraTransform(false);
      vox.setInputCloud(cloud);
      vox.setNormalCloud(normals);
      vox.setSpatialImportance(std::atof(argv[6]));
      vox.setNormalImportance(std::atof(argv[7]));
      vox.setColorImportance(std::atof(argv[8]));
      std::map<std::uint32_t, pcl::Supervoxel<pcl::PointXYZRGBA>::Ptr> clusters;
      vox.extract(clusters);
      times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      if (r == repeats - 1) {
        auto labelled = vox.getLabeledCloud();
        for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<std::int32_t>((*labelled)[i].label);
        count = clusters.size();
      }
    }
    print_times(times, count);
  } else if (mode == "rg") {
    pcl::PointCloud<pcl::PointXYZ>::Ptr cloud(new pcl::PointCloud<pcl::PointXYZ>);
    cloud->resize(n);
    for (std::int64_t i = 0; i < n; ++i) {
      auto& p = (*cloud)[i];
      p.x = xyz[3 * i]; p.y = xyz[3 * i + 1]; p.z = xyz[3 * i + 2];
    }
    std::size_t count = 0;
    for (int r = 0; r < repeats; ++r) {
      auto t0 = Clock::now();
      pcl::search::KdTree<pcl::PointXYZ>::Ptr tree(new pcl::search::KdTree<pcl::PointXYZ>);
      pcl::PointCloud<pcl::Normal>::Ptr normals(new pcl::PointCloud<pcl::Normal>);
      pcl::NormalEstimation<pcl::PointXYZ, pcl::Normal> ne;
      ne.setInputCloud(cloud);
      ne.setSearchMethod(tree);
      ne.setRadiusSearch(std::atof(argv[4]));
      ne.compute(*normals);
      pcl::RegionGrowing<pcl::PointXYZ, pcl::Normal> rg;
      rg.setMinClusterSize(1);
      rg.setMaxClusterSize(100000000);
      rg.setSearchMethod(tree);
      rg.setNumberOfNeighbours(std::atoi(argv[5]));
      rg.setInputCloud(cloud);
      rg.setInputNormals(normals);
      rg.setSmoothnessThreshold(static_cast<float>(std::atof(argv[6]) / 180.0 * M_PI));
      rg.setCurvatureThreshold(std::atof(argv[7]));
      std::vector<pcl::PointIndices> clusters;
      rg.extract(clusters);
      times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      if (r == repeats - 1) {
        std::fill(out.begin(), out.end(), -1);
        for (std::size_t c = 0; c < clusters.size(); ++c)
          for (auto idx : clusters[c].indices) out[idx] = static_cast<std::int32_t>(c);
        count = clusters.size();
      }
    }
    print_times(times, count);
  } else {
    std::cerr << "mode must be vccs or rg\n";
    return 2;
  }
  std::ofstream o(argv[3], std::ios::binary);
  o.write(reinterpret_cast<const char*>(out.data()), 4 * n);
  return o ? 0 : 1;
}
