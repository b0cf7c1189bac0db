{
  "targets": [
    {
      "target_name": "pld_native",
      "sources": ["src/addon.cc", "src/kernels.cc", "src/pool.cc"],
      "cflags_cc": ["-O3", "-fno-math-errno", "-fopenmp-simd", "-std=c++17", "-pthread", "<!@(pkg-config --cflags openblas)"],
      "ldflags": ["-pthread"],
      "libraries": ["<!@(pkg-config --libs openblas)"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
