// `purelm serve` as a real client sees it: the CLI runs as a subprocess (with --api-key and a chat
// template from a file) and the official openai npm package, installed from the registry into the
// build folder, drives it (tests/serve_openai_client.mjs). SIGTERM then stops the server cleanly.

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testing.h"

namespace purelm {
namespace {

using json = nlohmann::json;

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The openai package in PURELM_BUILD_DIR/npm-openai, installed on first use; "" when npm cannot
// install it (no registry), with npm's output in `why`.
std::string openai_package(std::string* why) {
  const std::string dir = std::string(PURELM_BUILD_DIR) + "/npm-openai";
  if (!std::filesystem::exists(dir + "/node_modules/openai")) {
    std::filesystem::create_directories(dir);
    const std::string log = dir + "/npm-install.log";
    const std::string cmd = "cd " + quote(dir) +
                            " && timeout 300 npm install --no-audit --no-fund --loglevel=error "
                            "--no-save openai > " +
                            quote(log) + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      *why = read_all(log);
      return "";
    }
  }
  std::filesystem::copy_file(testing::repo("tests/serve_openai_client.mjs"), dir + "/client.mjs",
                             std::filesystem::copy_options::overwrite_existing);
  return dir;
}

TEST(ServeOpenAINpm, ChatAndCompletionsStreamingAndNot) {
  std::string why;
  const std::string npm_dir = openai_package(&why);
  if (npm_dir.empty()) GTEST_SKIP() << "npm cannot install the openai package:\n" << why;
  testing::TempDir tmp;
  // stories260K has no chat template: a story told in turns.
  std::ofstream(tmp.path("story.jinja"))
      << "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}";
  testing::ServeProcess srv({PURELM_CLI, "serve", "--model", testing::shared("models/stories260K"),
                             "--port", "0", "--parallel", "2", "--ctx-size", "256", "--api-key",
                             "sesame", "--chat-template", tmp.path("story.jinja")},
                            tmp.path("serve.log"));
  const int port = srv.port();
  ASSERT_GT(port, 0) << srv.log();
  const std::string cmd = "cd " + quote(npm_dir) +
                          " && PURELM_URL=http://127.0.0.1:" + std::to_string(port) +
                          "/v1 PURELM_KEY=sesame node client.mjs > client.out 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string out = read_all(npm_dir + "/client.out");
  ASSERT_EQ(rc, 0) << out << srv.log();
  json j = json::parse(out);
  EXPECT_EQ(j["model"], testing::shared("models/stories260K"));
  for (const char* k : {"chat", "chat_stream", "completion", "completion_stream"}) {
    EXPECT_FALSE(j[k]["text"].get<std::string>().empty()) << k;
    EXPECT_EQ(j[k]["usage"]["completion_tokens"], 24) << k;
    EXPECT_EQ(j[k]["finish"], "length") << k;
  }
  // Both prompts are the same tokens, so greedy decoding gives one text four times.
  EXPECT_EQ(j["chat_stream"]["text"], j["chat"]["text"]);
  EXPECT_EQ(j["completion"]["text"], j["chat"]["text"]);
  EXPECT_EQ(j["completion_stream"]["text"], j["chat"]["text"]);
  EXPECT_GT(j["chat_stream"]["chunks"].get<int>(), 3);
  EXPECT_EQ(j["error"]["status"], 400);
  EXPECT_EQ(j["error"]["code"], "invalid_value");

  EXPECT_EQ(srv.terminate(), 0) << srv.log();
  const std::string log = srv.log();
  EXPECT_NE(log.find("prompt tokens"), std::string::npos) << log;  // one line per request
  EXPECT_NE(log.find("stopping"), std::string::npos) << log;
}

}  // namespace
}  // namespace purelm
