#include "purelm/hub/settings.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace purelm::hub {

namespace {

namespace fs = std::filesystem;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// $HF_HOME, defaulting as huggingface_hub does; empty when no home is known.
fs::path hf_home() {
  if (std::string v = env("HF_HOME"); !v.empty()) return v;
  if (std::string v = env("XDG_CACHE_HOME"); !v.empty()) return fs::path(v) / "huggingface";
  if (std::string v = env("HOME"); !v.empty()) return fs::path(v) / ".cache" / "huggingface";
  return {};
}

std::string read_token() {
  for (const char* var : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
    if (std::string v = trim(env(var)); !v.empty()) return v;
  }
  fs::path file = env("HF_TOKEN_PATH");
  if (file.empty() && !hf_home().empty()) file = hf_home() / "token";
  std::ifstream in(file);
  std::string token;
  if (in) std::getline(in, token);
  return trim(token);
}

}  // namespace

bool offline_from_env() {
  std::string v = env("HF_HUB_OFFLINE");
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

Settings settings_from_env() {
  Settings s;
  s.endpoint = env("HF_ENDPOINT");
  if (s.endpoint.empty()) s.endpoint = "https://huggingface.co";
  while (s.endpoint.size() > 1 && s.endpoint.back() == '/') s.endpoint.pop_back();
  s.token = read_token();
  s.offline = offline_from_env();
  return s;
}

}  // namespace purelm::hub
