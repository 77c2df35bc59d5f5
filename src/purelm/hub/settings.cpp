#include "purelm/hub/settings.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "purelm/io/hf_folder.h"

namespace purelm::hub {

namespace {

namespace fs = std::filesystem;

std::string read_token() {
  for (const char* var : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
    if (std::string v = hf_env(var); !v.empty()) return v;
  }
  fs::path file = hf_env("HF_TOKEN_PATH");
  if (file.empty() && !hf_home().empty()) file = hf_home() / "token";
  std::ifstream in(file);
  std::string token;
  if (in) std::getline(in, token);
  const std::string ws = " \t\r\n";
  const size_t b = token.find_first_not_of(ws);
  return b == std::string::npos ? "" : token.substr(b, token.find_last_not_of(ws) - b + 1);
}

}  // namespace

bool offline_from_env() {
  std::string v = hf_env("HF_HUB_OFFLINE");
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::toupper(c); });
  return v == "1" || v == "ON" || v == "YES" || v == "TRUE";
}

Settings settings_from_env() {
  Settings s;
  s.endpoint = hf_env("HF_ENDPOINT");
  if (s.endpoint.empty()) s.endpoint = "https://huggingface.co";
  while (s.endpoint.size() > 1 && s.endpoint.back() == '/') s.endpoint.pop_back();
  s.token = read_token();
  s.offline = offline_from_env();
  return s;
}

}  // namespace purelm::hub
