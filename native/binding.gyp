{
  "targets": [
    {
      "target_name": "pld_native",
      "sources": ["src/addon.cc"],
      "cflags_cc": ["-O3", "-fno-math-errno", "-fopenmp-simd", "-std=c++17", "<!@(pkg-config --cflags openblas)"],
      "libraries": ["<!@(pkg-config --libs openblas)"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
