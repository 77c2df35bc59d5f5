#include "purelm/server/api_error.h"

namespace purelm::server {

const char* error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 404:
      return "not_found_error";
    case 503:
      return "server_overloaded_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

nlohmann::ordered_json error_body(const ApiError& e) {
  return {{"error",
           {{"message", e.what()},
            {"type", error_type(e.status)},
            {"param",
             e.param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.param)},
            {"code", e.code}}}};
}

}  // namespace purelm::server
