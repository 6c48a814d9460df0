{
  "targets": [
    {
      "target_name": "hipvpn_io",
      "sources": ["src/hipvpn_io.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["src/hipvpn_io.c"], "sources": ["src/unsupported.c"] }]
      ]
    }
  ]
}
