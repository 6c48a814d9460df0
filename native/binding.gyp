{
  "targets": [
    {
      "target_name": "hipvpn_io",
      "sources": ["src/hipvpn_io.c", "src/fastpath.c", "src/fastpath_io.c", "src/fastpath_flow.c", "src/fastpath_napi.c", "src/esp_packet.c", "src/gcm.c", "src/udp_batch.c", "src/addon_common.c", "src/udp_handle.c", "src/fastpath_peer_napi.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden", "-pthread"],
      "libraries": ["-ldl", "-lpthread"],
      "conditions": [
        ["OS!='linux'", {
          "sources!": ["src/hipvpn_io.c", "src/fastpath.c", "src/fastpath_io.c", "src/fastpath_flow.c", "src/fastpath_napi.c", "src/esp_packet.c", "src/gcm.c", "src/udp_batch.c", "src/addon_common.c", "src/udp_handle.c", "src/fastpath_peer_napi.c"],
          "sources": ["src/unsupported.c"],
          "libraries!": ["-ldl", "-lpthread"]
        }]
      ]
    }
  ]
}
