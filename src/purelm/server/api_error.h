// Errors a client caused (or the server's state, e.g. a full queue), reported as OpenAI does:
// an HTTP status and a body {"error": {"message", "type", "param", "code"}}.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace purelm::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string code, const std::string& message, std::string param = "")
      : std::runtime_error(message),
        status(status),
        code(std::move(code)),
        param(std::move(param)) {}
  int status;
  std::string code;   // machine-readable, e.g. "invalid_value", "context_length_exceeded"
  std::string param;  // the request field at fault, if one is
};

// 400 invalid_request_error for field `param`.
inline ApiError invalid(const std::string& param, const std::string& message,
                        std::string code = "invalid_value") {
  return ApiError(400, std::move(code), message, param);
}

// OpenAI's error types by status: 400 invalid_request_error, 401 authentication_error, ...
const char* error_type(int status);
nlohmann::ordered_json error_body(const ApiError& e);

}  // namespace purelm::server
