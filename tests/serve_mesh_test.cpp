// `mpirun -np 2 purelm serve --tp 2` (or --fsdp 2): rank 0 speaks HTTP and runs the engine, the
// other process makes each of its forwards on its half of the model and KV cache (with --fsdp, on
// the whole cache, gathering each layer's weights from both). Greedy answers, streamed or
// not, through completions and chat, sent at once (more than the slots: they queue, then decode as
// one batch), equal what `purelm generate` gives on one process. SIGTERM to rank 0 ends both
// processes with status 0.
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "purelm/io/safetensors.h"
#include "testing.h"

namespace purelm::testing {
namespace {

using json = nlohmann::json;

// A request and what came back: the text of a plain answer, or of a stream's chunks.
struct Ask {
  std::string path;
  json body;
  std::string text;
  int status = 0;
  Ask(std::string p, json b) : path(std::move(p)), body(std::move(b)) {}
};

void send(int port, Ask& a) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(300);
  auto r = c.Post(a.path, a.body.dump(), "application/json");  // a whole stream too
  if (!r) return;
  a.status = r->status;
  if (r->status != 200) return void(a.text = r->body);
  const bool chat = a.path == "/v1/chat/completions";
  if (!a.body.value("stream", false)) {
    const json choice = json::parse(r->body)["choices"][0];
    a.text = chat ? choice["message"]["content"] : choice["text"];
    return;
  }
  const std::string& events = r->body;
  for (size_t at = 0; (at = events.find("data: ", at)) != std::string::npos;) {
    const size_t end = events.find("\n\n", at);
    const std::string data = events.substr(at + 6, end - at - 6);
    at = end;
    if (data == "[DONE]") break;
    const json choice = json::parse(data)["choices"][0];
    if (!chat)
      a.text += choice["text"].get<std::string>();
    else if (choice["delta"].contains("content"))
      a.text += choice["delta"]["content"].get<std::string>();
  }
}

// The server on two processes split along `axis` (--tp or --fsdp), its rank 0's pid (for the
// signal) in `pid_file`.
std::vector<std::string> serve_on_two(const std::string& model, const std::string& pid_file,
                                      const std::vector<std::string>& extra,
                                      const std::string& axis = "--tp") {
  std::vector<std::string> argv = {
      "mpirun",
      "--allow-run-as-root",
      "--oversubscribe",
      "-np",
      "2",
      "sh",
      "-c",
      "if [ \"$OMPI_COMM_WORLD_RANK\" = 0 ]; then echo $$ > '" + pid_file + "'; fi; exec \"$@\"",
      "sh",
      PURELM_CLI,
      "serve",
      "--model",
      model,
      axis,
      "2",
      "--port",
      "0",
      "--parallel",
      "2",
      "--ctx-size",
      "128"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

int read_pid(const std::string& file) {
  std::ifstream f(file);
  int pid = 0;
  f >> pid;
  return pid;
}

// Sends every request at once and stops the server; each answer must be its `want`.
void expect_answers(ServeProcess& srv, const std::string& pid_file, std::vector<Ask> asks,
                    const std::vector<std::string>& want) {
  const int port = srv.port();
  ASSERT_GT(port, 0) << srv.log();
  std::vector<std::thread> clients;
  for (Ask& a : asks) clients.emplace_back([&] { send(port, a); });
  for (std::thread& t : clients) t.join();
  for (size_t i = 0; i < asks.size(); ++i) {
    EXPECT_EQ(asks[i].status, 200) << asks[i].path << " " << asks[i].body << ": " << asks[i].text;
    EXPECT_EQ(asks[i].text, want[i]) << asks[i].path << " " << asks[i].body << "\n" << srv.log();
  }
  const int rank0 = read_pid(pid_file);
  ASSERT_GT(rank0, 0);
  EXPECT_EQ(srv.terminate(rank0), 0) << srv.log();  // mpirun's status: 0 when both processes exit 0
  EXPECT_NE(srv.log().find("purelm serve: stopping"), std::string::npos) << srv.log();
}

TEST(ServeMesh, StoriesAnswersEqualGenerate) {
  const std::string model = shared("models/stories260K");
  TempDir tmp;
  // stories260K has no chat template: the messages' text after BOS, as `generate` encodes it.
  std::ofstream(tmp.path("story.jinja"))
      << "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}";
  const std::vector<std::string> prompts = {"Once upon a time", "The cat", "Lily wanted to",
                                            "Tom had a"};
  {
    std::ofstream f(tmp.path("prompts.txt"));
    for (const std::string& p : prompts) f << p << "\n";
  }
  RunResult r = run_cli({"generate", "--model", model, "--prompt-file", tmp.path("prompts.txt"),
                         "--max-tokens", "16", "--temperature", "0"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<std::string> want;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    want.push_back(json::parse(line)["completion"]);
  ASSERT_EQ(want.size(), prompts.size()) << r.out;

  ServeProcess srv(
      serve_on_two(model, tmp.path("rank0.pid"), {"--chat-template", tmp.path("story.jinja")}),
      tmp.path("serve.log"));
  auto completion = [&](size_t i, bool stream) {
    return Ask{
        "/v1/completions",
        {{"prompt", prompts[i]}, {"max_tokens", 16}, {"temperature", 0}, {"stream", stream}}};
  };
  auto chat = [&](size_t i, bool stream) {
    return Ask{"/v1/chat/completions",
               {{"messages", {{{"role", "user"}, {"content", prompts[i]}}}},
                {"max_tokens", 16},
                {"temperature", 0},
                {"stream", stream}}};
  };
  expect_answers(srv, tmp.path("rank0.pid"),
                 {completion(0, false), completion(1, true), chat(2, false), chat(3, true)}, want);
}

// Qwen3 (q/k norms; under --tp one KV head per process) on the fixture's golden prompt, given as
// token ids; stories260K's tokenizer (the fixture has none) turns the tokens into text, as for
// `generate`.
void expect_qwen3_answers_equal_generate(const std::string& axis) {
  const std::string fixture = shared("fixtures/qwen3-tiny");
  TempDir tmp;
  const std::string model = tmp.path("model");
  std::filesystem::create_directory(model);
  for (const char* f : {"config.json", "model.safetensors"})
    std::filesystem::create_symlink(fixture + "/" + f, model + "/" + f);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    std::filesystem::create_symlink(shared("models/stories260K/") + f, model + "/" + f);
  Tensor golden = TensorStore::open_file(fixture + "/golden.safetensors").get("greedy_prompt");
  const std::vector<int32_t> prompt(golden.data<int32_t>(),
                                    golden.data<int32_t>() + golden.numel());
  std::vector<Ask> asks;
  std::vector<std::string> want;
  for (size_t cut : {prompt.size(), prompt.size() / 2}) {  // two prompts
    const std::vector<int32_t> ids(prompt.begin(), prompt.begin() + long(cut));
    std::string list;
    for (int32_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
    RunResult r = run_cli({"generate", "--model", model, "--prompt-ids", list, "--max-tokens", "12",
                           "--temperature", "0"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_GT(r.out.size(), 1u) << "no text to compare with";
    for (bool stream : {false, true}) {
      want.push_back(r.out.substr(0, r.out.size() - 1));  // the text and a newline
      asks.push_back(
          {"/v1/completions",
           {{"prompt", ids}, {"max_tokens", 12}, {"temperature", 0}, {"stream", stream}}});
    }
  }
  ServeProcess srv(serve_on_two(model, tmp.path("rank0.pid"), {}, axis), tmp.path("serve.log"));
  expect_answers(srv, tmp.path("rank0.pid"), std::move(asks), want);
}

TEST(ServeMesh, Qwen3AnswersEqualGenerate) { expect_qwen3_answers_equal_generate("--tp"); }

TEST(ServeMesh, Qwen3AnswersEqualGenerateFullySharded) {
  expect_qwen3_answers_equal_generate("--fsdp");
}

}  // namespace
}  // namespace purelm::testing
