// Non-Linux builds: the addon loads but offers nothing, so platform code can say why.
#include <node_api.h>

NAPI_MODULE_INIT() {
  napi_value abi;
  napi_create_int32(env, 0, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}
