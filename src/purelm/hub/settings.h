// Where the Hub is and who we are to it, from the environment variables huggingface_hub reads.
#pragma once

#include <string>

namespace purelm::hub {

struct Settings {
  std::string endpoint;  // HF_ENDPOINT, default https://huggingface.co, no trailing '/'
  std::string token;     // HF_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token; never printed
  bool offline = false;  // HF_HUB_OFFLINE=1 (or ON, YES, TRUE)
};

Settings settings_from_env();
bool offline_from_env();

}  // namespace purelm::hub
