// The chat page served at GET /: chat.html, embedded into the binary at build time.
#pragma once

#include <string_view>

namespace purelm::server {

std::string_view chat_page_html();

}  // namespace purelm::server
