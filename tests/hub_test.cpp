// hub/: downloads from a mock Hub in this process (127.0.0.1, ephemeral ports) that answers as
// huggingface.co does: model info, resolve URLs with the commit and etag headers, LFS files
// redirected to a separate storage server that honours Range, a gated repo, and faults on demand
// (503, 429, a connection cut half-way, bytes that do not match their etag). It serves the real
// stories260K checkpoint, so `generate` runs from the downloaded repo id.
#include <httplib.h>
#include <openssl/evp.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "io_testing.h"
#include "purelm/hub/download.h"
#include "purelm/hub/retry.h"
#include "purelm/io/hf_folder.h"
#include "testing.h"

namespace purelm {
namespace {

namespace fs = std::filesystem;
using io_testing::error_of;
using nlohmann::json;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string digest_hex(const EVP_MD* md, const std::string& bytes) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), d, &n, md, nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", d[i]);
    hex += buf;
  }
  return hex;
}

std::string sha256(const std::string& bytes) { return digest_hex(EVP_sha256(), bytes); }
// git's object id of a file: what the Hub's ETag is for a file outside LFS.
std::string git_sha1(const std::string& bytes) {
  return digest_hex(EVP_sha1(), "blob " + std::to_string(bytes.size()) + '\0' + bytes);
}

struct MockFile {
  std::string bytes;
  bool lfs;
};
using Commit = std::map<std::string, MockFile>;  // path -> file

struct MockRepo {
  std::map<std::string, std::string> refs;  // branch or tag -> commit sha
  std::map<std::string, Commit> commits;
  std::string token;  // non-empty: gated, this token is needed
};

// A Hub and its LFS storage (a second server: a different origin, as a CDN is).
class MockHub {
 public:
  MockHub() {
    hub_port_ = hub_.bind_to_any_port("127.0.0.1");
    cdn_port_ = cdn_.bind_to_any_port("127.0.0.1");
    hub_.Get(R"(/api/models/([^/]+/[^/]+)/revision/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) { info(req, res); });
    hub_.Get(R"(/([^/]+/[^/]+)/resolve/([^/]+)/(.+))",
             [this](const httplib::Request& req, httplib::Response& res) { resolve(req, res); });
    cdn_.Get(R"(/lfs/([0-9a-f]+))",
             [this](const httplib::Request& req, httplib::Response& res) { lfs(req, res); });
    hub_thread_ = std::thread([this] { hub_.listen_after_bind(); });
    cdn_thread_ = std::thread([this] { cdn_.listen_after_bind(); });
  }
  ~MockHub() {
    hub_.stop();
    cdn_.stop();
    hub_thread_.join();
    cdn_thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(hub_port_); }

  std::map<std::string, MockRepo> repos;  // set up before any request
  // Faults, each used once per count: the next LFS responses are 503, then 429s; `cut` is the
  // sha256 of a blob whose next transfer stops half-way; `corrupt` one served with a byte changed.
  std::atomic<int> fail_503{0}, fail_429{0};
  std::string cut, corrupt;

  std::atomic<int> info_requests{0}, resolve_requests{0}, lfs_requests{0};
  std::vector<std::string> ranges() {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_;
  }
  std::vector<std::string> cdn_auth() {
    std::lock_guard<std::mutex> lock(mu_);
    return cdn_auth_;
  }

 private:
  static void error(httplib::Response& res, int status, const std::string& code) {
    res.status = status;
    res.set_header("X-Error-Code", code);
    res.set_header("X-Error-Message", code + " (mock)");
  }
  // The repo and commit a request names, or an error response.
  const Commit* find(const httplib::Request& req, httplib::Response& res, const std::string& rev,
                     std::string* sha) {
    auto it = repos.find(req.matches[1]);
    if (it == repos.end()) {
      error(res, 404, "RepoNotFound");
      return nullptr;
    }
    const MockRepo& repo = it->second;
    if (!repo.token.empty() && req.get_header_value("Authorization") != "Bearer " + repo.token) {
      error(res, 401, "GatedRepo");
      return nullptr;
    }
    *sha = repo.refs.count(rev) ? repo.refs.at(rev) : rev;
    if (!repo.commits.count(*sha)) {
      error(res, 404, "RevisionNotFound");
      return nullptr;
    }
    return &repo.commits.at(*sha);
  }

  void info(const httplib::Request& req, httplib::Response& res) {
    ++info_requests;
    std::string sha;
    const Commit* commit = find(req, res, req.matches[2], &sha);
    if (!commit) return;
    json siblings = json::array();
    for (const auto& [path, f] : *commit) {
      json s = {{"rfilename", path}, {"size", f.lfs ? 134 : f.bytes.size()}};
      if (f.lfs) s["lfs"] = {{"sha256", sha256(f.bytes)}, {"size", f.bytes.size()}};
      siblings.push_back(s);
    }
    res.set_content(json{{"id", req.matches[1]}, {"sha", sha}, {"siblings", siblings}}.dump(),
                    "application/json");
  }

  void resolve(const httplib::Request& req, httplib::Response& res) {
    ++resolve_requests;
    std::string sha;
    const Commit* commit = find(req, res, req.matches[2], &sha);
    if (!commit) return;
    auto it = commit->find(req.matches[3]);
    if (it == commit->end()) return error(res, 404, "EntryNotFound");
    const MockFile& f = it->second;
    res.set_header("X-Repo-Commit", sha);
    if (f.lfs) {
      const std::string h = sha256(f.bytes);
      res.status = 302;
      res.set_header("ETag", "\"" + git_sha1("pointer " + h) + "\"");
      res.set_header("X-Linked-Etag", "\"" + h + "\"");
      res.set_header("X-Linked-Size", std::to_string(f.bytes.size()));
      res.set_header("Location",
                     "http://127.0.0.1:" + std::to_string(cdn_port_) + "/lfs/" + h + "?sig=x");
    } else {
      res.set_header("ETag", "\"" + git_sha1(f.bytes) + "\"");
      res.set_content(f.bytes, "application/octet-stream");
    }
  }

  void lfs(const httplib::Request& req, httplib::Response& res) {
    ++lfs_requests;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ranges_.push_back(req.get_header_value("Range"));
      cdn_auth_.push_back(req.get_header_value("Authorization"));
    }
    if (fail_503 > 0) {
      --fail_503;
      res.status = 503;
      return;
    }
    if (fail_429 > 0) {
      --fail_429;
      res.status = 429;
      res.set_header("Retry-After", "0");
      return;
    }
    const std::string h = req.matches[1];
    std::string bytes;
    for (const auto& [id, repo] : repos) {
      for (const auto& [c, files] : repo.commits) {
        for (const auto& [p, f] : files) {
          if (f.lfs && sha256(f.bytes) == h) bytes = f.bytes;
        }
      }
    }
    if (bytes.empty()) return error(res, 404, "EntryNotFound");
    if (h == corrupt) {
      corrupt.clear();
      bytes[bytes.size() / 2] ^= 1;
    }
    if (h == cut && req.get_header_value("Range").empty()) {
      cut.clear();
      // Sends the first half of a response announced whole, then drops the connection.
      res.set_content_provider(bytes.size(), "application/octet-stream",
                               [bytes](size_t, size_t, httplib::DataSink& sink) {
                                 sink.write(bytes.data(), bytes.size() / 2);
                                 return false;
                               });
      return;
    }
    res.set_content(bytes, "application/octet-stream");  // httplib answers Range with a 206
  }

  httplib::Server hub_, cdn_;
  int hub_port_, cdn_port_;
  std::thread hub_thread_, cdn_thread_;
  std::mutex mu_;
  std::vector<std::string> ranges_, cdn_auth_;
};

const std::string kMain = "1111111111111111111111111111111111111111";
const std::string kV1 = "2222222222222222222222222222222222222222";
const char* kEnv[] = {"HF_HOME",  "HF_HUB_CACHE",  "HUGGINGFACE_HUB_CACHE",  "HF_ENDPOINT",
                      "HF_TOKEN", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"};

class Hub : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kEnv) {
      if (const char* old = std::getenv(v)) saved_[v] = old;
      unsetenv(v);
    }
    setenv("HF_HOME", home_.path().c_str(), 1);
    setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
    // stories260K as the Hub would hold it, with files purelm does not fetch by default.
    const fs::path dir = io_testing::kShared / "models" / "stories260K";
    Commit main;
    for (const char* f : {"config.json", "generation_config.json", "tokenizer.json",
                          "tokenizer_config.json", "README.md"}) {
      main[f] = {slurp(dir / f), false};
    }
    main["model.safetensors"] = {slurp(dir / "model.safetensors"), true};
    main["stories260K.llama2c.bin"] = {slurp(dir / "stories260K.llama2c.bin"), true};
    Commit v1 = main;
    v1["config.json"].bytes += "\n";
    v1.erase("README.md");
    hub_.repos["Org/Stories"] = {{{"main", kMain}, {"v1", kV1}}, {{kMain, main}, {kV1, v1}}, ""};
    hub_.repos["Org/Gated"] = {{{"main", kMain}}, {{kMain, main}}, "hf_secret_token"};
    weights_sha_ = sha256(main["model.safetensors"].bytes);
  }
  void TearDown() override {
    for (const char* v : kEnv) unsetenv(v);
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }

  static hub::DownloadOptions quick() {  // no progress, retries without real waits
    hub::DownloadOptions o;
    o.progress = nullptr;
    o.retry.base_seconds = 0.001;
    o.retry.max_seconds = 0.01;
    return o;
  }
  fs::path repo_dir(const std::string& name = "models--Org--Stories") const {
    return home_.path() / "hub" / name;
  }
  fs::path blob() const { return repo_dir() / "blobs" / weights_sha_; }

  io_testing::TempDir home_;
  MockHub hub_;
  std::string weights_sha_;
  std::map<std::string, std::string> saved_;
};

TEST_F(Hub, DownloadsIntoAnEmptyCacheThenGenerates) {
  const fs::path model = io_testing::kShared / "models" / "stories260K";
  const std::vector<std::string> gen = {"--prompt-ids",  "1,403,407", "--max-tokens", "8",
                                        "--temperature", "0",         "--print-ids"};
  std::vector<std::string> from_folder = {"generate", "--model", model.string()};
  std::vector<std::string> from_hub = {"generate", "--model", "Org/Stories"};
  from_folder.insert(from_folder.end(), gen.begin(), gen.end());
  from_hub.insert(from_hub.end(), gen.begin(), gen.end());
  const testing::RunResult want = testing::run_cli(from_folder);
  const testing::RunResult got = testing::run_cli(from_hub);  // downloads first
  ASSERT_EQ(got.status, 0) << got.err;
  EXPECT_EQ(got.out, want.out);
  EXPECT_NE(got.err.find("Org/Stories is not in the HuggingFace cache"), std::string::npos);
  EXPECT_NE(got.err.find("model.safetensors: 1.04 MB"), std::string::npos) << got.err;

  // huggingface_hub's layout, read back by the resolver.
  const fs::path snap = repo_dir() / "snapshots" / kMain;
  EXPECT_EQ(resolve_model_dir("Org/Stories"), snap.string());
  EXPECT_EQ(slurp(repo_dir() / "refs" / "main"), kMain);
  EXPECT_EQ(fs::read_symlink(snap / "model.safetensors"), fs::path("../../blobs") / weights_sha_);
  EXPECT_EQ(slurp(blob()), slurp(model / "model.safetensors"));
  const std::string config = slurp(model / "config.json");
  EXPECT_EQ(fs::read_symlink(snap / "config.json"), fs::path("../../blobs") / git_sha1(config));
  EXPECT_FALSE(fs::exists(snap / "README.md"));                // not what purelm reads
  EXPECT_FALSE(fs::exists(snap / "stories260K.llama2c.bin"));  // never *.bin by default
  for (const auto& e : fs::directory_iterator(repo_dir() / "blobs")) {
    EXPECT_EQ(e.path().extension(), "") << e.path();  // no .incomplete left
  }
  EXPECT_TRUE(fs::exists(home_.path() / "hub" / ".locks" / "models--Org--Stories" /
                         (weights_sha_ + ".lock")));

  // Again: the model info, and nothing else.
  const int resolves = hub_.resolve_requests, lfs = hub_.lfs_requests;
  const testing::RunResult again = testing::run_cli({"download", "Org/Stories"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, snap.string() + "\n");
  EXPECT_NE(again.err.find("5 file(s), 0 downloaded"), std::string::npos) << again.err;
  EXPECT_EQ(hub_.resolve_requests, resolves);
  EXPECT_EQ(hub_.lfs_requests, lfs);
  // And --model with the repo cached does not ask the Hub at all.
  const int infos = hub_.info_requests;
  ASSERT_EQ(testing::run_cli(from_hub).status, 0);
  EXPECT_EQ(hub_.info_requests, infos);
}

TEST_F(Hub, ResumesAfterTheConnectionIsCut) {
  const int64_t size =
      int64_t(fs::file_size(io_testing::kShared / "models" / "stories260K" / "model.safetensors"));
  hub_.cut = weights_sha_;
  hub::DownloadOptions o = quick();
  o.retry.max_retries = 0;  // the first run gives up after the cut
  const std::string e = error_of([&] { hub::download_repo("Org/Stories", o); });
  EXPECT_NE(e.find("the download of file 'model.safetensors' of Org/Stories failed"),
            std::string::npos)
      << e;
  const fs::path part = blob().string() + ".incomplete";
  ASSERT_TRUE(fs::exists(part));
  EXPECT_EQ(int64_t(fs::file_size(part)), size / 2);
  EXPECT_FALSE(fs::exists(repo_dir() / "snapshots" / kMain / "model.safetensors"));
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));

  const hub::DownloadResult r = hub::download_repo("Org/Stories", o);
  EXPECT_EQ(hub_.ranges().back(), "bytes=" + std::to_string(size / 2) + "-");
  EXPECT_LT(r.bytes, size);  // the rest of the weights, and the files the failed run left
  EXPECT_EQ(sha256(slurp(blob())), weights_sha_);
  EXPECT_FALSE(fs::exists(part));
  EXPECT_EQ(resolve_model_dir("Org/Stories"), r.dir);
}

TEST_F(Hub, RetriesACutAnd503And429WithinOneRun) {
  hub_.cut = weights_sha_;
  hub_.fail_503 = 2;
  hub_.fail_429 = 1;
  hub::DownloadOptions o = quick();
  o.max_workers = 1;
  hub::download_repo("Org/Stories", o);
  EXPECT_EQ(sha256(slurp(blob())), weights_sha_);
  const std::vector<std::string> ranges = hub_.ranges();
  ASSERT_EQ(ranges.size(), 5u);  // 503, 503, 429, the cut, the rest
  EXPECT_EQ(ranges[3], "");
  EXPECT_NE(ranges[4], "");

  hub::RetryPolicy p;
  EXPECT_EQ(hub::retry_delay(p, 0, ""), 1);
  EXPECT_EQ(hub::retry_delay(p, 2, ""), 4);
  EXPECT_EQ(hub::retry_delay(p, 0, "7"), 7);
  EXPECT_EQ(hub::retry_delay(p, 0, "3600"), 30);
  EXPECT_EQ(hub::retry_delay(p, 1, "Wed, 21 Oct 2015 07:28:00 GMT"), 2);
}

TEST_F(Hub, ClearErrors) {
  const hub::DownloadOptions o = quick();
  std::string e = error_of([&] { hub::download_repo("Org/Nope", o); });
  EXPECT_NE(e.find("no model repo 'Org/Nope'"), std::string::npos) << e;
  e = error_of([&] {
    hub::DownloadOptions r = o;
    r.revision = "nope";
    hub::download_repo("Org/Stories", r);
  });
  EXPECT_NE(e.find("no revision 'nope' in Org/Stories"), std::string::npos) << e;

  e = error_of([&] { hub::download_repo("Org/Gated", o); });
  EXPECT_NE(e.find("accept its licence at " + hub_.endpoint() + "/Org/Gated"), std::string::npos)
      << e;
  EXPECT_NE(e.find("set HF_TOKEN"), std::string::npos) << e;
  setenv("HF_TOKEN", "hf_secret_token", 1);
  hub::download_repo("Org/Gated", o);
  for (const std::string& auth : hub_.cdn_auth()) EXPECT_EQ(auth, "");  // the token stays home
  unsetenv("HF_TOKEN");
  fs::remove_all(repo_dir("models--Org--Gated"));
  io_testing::write_file(home_.path() / "token", "hf_secret_token\n");  // `huggingface-cli login`
  EXPECT_EQ(hub::download_repo("Org/Gated", o).downloaded, 5);
  setenv("HF_TOKEN", "hf_wrong_token", 1);  // wins over the file
  e = error_of([&] { hub::download_repo("Org/Gated", o); });
  EXPECT_NE(e.find("is refused"), std::string::npos) << e;
  EXPECT_EQ(e.find("hf_wrong_token"), std::string::npos) << e;
  unsetenv("HF_TOKEN");

  hub_.corrupt = weights_sha_;
  e = error_of([&] { hub::download_repo("Org/Stories", o); });
  EXPECT_NE(e.find("the sha256 of model.safetensors of Org/Stories is"), std::string::npos) << e;
  EXPECT_NE(e.find("is deleted"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(blob()));
  EXPECT_FALSE(fs::exists(blob().string() + ".incomplete"));
  EXPECT_FALSE(fs::exists(repo_dir() / "snapshots" / kMain / "model.safetensors"));

  hub_.repos["Org/Evil"] = {
      {{"main", kMain}}, {{kMain, {{"../../escape.json", {"{}", false}}}}}, ""};
  e = error_of([&] { hub::download_repo("Org/Evil", o); });
  EXPECT_NE(e.find("unsafe path '../../escape.json'"), std::string::npos) << e;

  // A full disk: the blob's part is /dev/full.
  fs::create_directories(repo_dir() / "blobs");
  fs::create_symlink("/dev/full", blob().string() + ".incomplete");
  e = error_of([&] { hub::download_repo("Org/Stories", o); });
  EXPECT_NE(e.find("the disk is full"), std::string::npos) << e;
  fs::remove(blob().string() + ".incomplete");

  setenv("HF_ENDPOINT", "http://127.0.0.1:1", 1);  // nothing listens there
  e = error_of([&] { hub::download_repo("Org/Stories", o); });
  EXPECT_NE(e.find("cannot reach http://127.0.0.1:1"), std::string::npos) << e;
  EXPECT_NE(e.find("set HF_HUB_OFFLINE=1"), std::string::npos) << e;
}

TEST_F(Hub, OfflineModeTouchesNoNetwork) {
  setenv("HF_HUB_OFFLINE", "1", 1);
  const std::string e = error_of([&] { hub::download_repo("Org/Stories", quick()); });
  EXPECT_NE(e.find("HF_HUB_OFFLINE"), std::string::npos) << e;
  const testing::RunResult r =
      testing::run_cli({"generate", "--model", "Org/Stories", "--prompt-ids", "1"});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("purelm download Org/Stories"), std::string::npos) << r.err;
  EXPECT_EQ(hub_.info_requests + hub_.resolve_requests + hub_.lfs_requests, 0);
}

TEST_F(Hub, IncludeAndExclude) {
  hub::DownloadOptions o = quick();
  o.include = {"*.bin", "README*"};
  hub::DownloadResult r = hub::download_repo("Org/Stories", o);
  EXPECT_EQ(r.files, 2);
  std::vector<std::string> got;
  for (const auto& e : fs::directory_iterator(r.dir)) got.push_back(e.path().filename());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"README.md", "stories260K.llama2c.bin"}));

  o = quick();
  o.exclude = {"tokenizer*", "*.safetensors"};
  r = hub::download_repo("Org/Stories", o);
  EXPECT_EQ(r.files, 2);  // config.json, generation_config.json
  EXPECT_EQ(r.downloaded, 2);
  EXPECT_TRUE(fs::exists(fs::path(r.dir) / "generation_config.json"));
  EXPECT_FALSE(fs::exists(fs::path(r.dir) / "tokenizer.json"));

  o.include = {"*.gguf"};
  EXPECT_NE(error_of([&] { hub::download_repo("Org/Stories", o); }).find("matches"),
            std::string::npos);
}

TEST_F(Hub, ARevisionOtherThanMain) {
  hub::download_repo("Org/Stories", quick());
  const int lfs = hub_.lfs_requests;
  hub::DownloadOptions o = quick();
  o.revision = "v1";
  const hub::DownloadResult r = hub::download_repo("Org/Stories", o);
  EXPECT_EQ(r.commit, kV1);
  EXPECT_EQ(r.dir, (repo_dir() / "snapshots" / kV1).string());
  EXPECT_EQ(slurp(repo_dir() / "refs" / "v1"), kV1);
  EXPECT_EQ(slurp(repo_dir() / "refs" / "main"), kMain);  // main still resolves to its commit
  EXPECT_EQ(resolve_model_dir("Org/Stories"), (repo_dir() / "snapshots" / kMain).string());
  EXPECT_EQ(slurp(fs::path(r.dir) / "config.json").back(), '\n');
  EXPECT_EQ(hub_.lfs_requests, lfs);  // the weights' blob is shared, not fetched again
  EXPECT_EQ(fs::read_symlink(fs::path(r.dir) / "model.safetensors"),
            fs::path("../../blobs") / weights_sha_);
}

// --model ORG/NAME@REV: a branch or tag (through refs/REV) or a commit (its snapshot), downloaded
// first when missing, then read from the cache without asking the Hub; `download` takes it too.
TEST_F(Hub, ModelAtARevision) {
  const std::vector<std::string> gen = {"--prompt-ids",  "1,403,407", "--max-tokens", "8",
                                        "--temperature", "0",         "--print-ids"};
  auto generate = [&](const std::string& model) {
    std::vector<std::string> args = {"generate", "--model", model};
    args.insert(args.end(), gen.begin(), gen.end());
    return testing::run_cli(args);
  };
  const testing::RunResult want =
      generate((io_testing::kShared / "models" / "stories260K").string());
  const testing::RunResult tag = generate("Org/Stories@v1");  // downloads v1 first
  ASSERT_EQ(tag.status, 0) << tag.err;
  EXPECT_EQ(tag.out, want.out);
  EXPECT_NE(tag.err.find("Org/Stories@v1 is not in the HuggingFace cache"), std::string::npos)
      << tag.err;
  const fs::path v1 = repo_dir() / "snapshots" / kV1;
  EXPECT_EQ(slurp(repo_dir() / "refs" / "v1"), kV1);
  EXPECT_FALSE(fs::exists(repo_dir() / "refs" / "main"));  // only what was asked for
  EXPECT_EQ(resolve_model_dir("Org/Stories@v1"), v1.string());
  EXPECT_EQ(resolve_model_dir("Org/Stories@" + kV1), v1.string());
  EXPECT_EQ(slurp(v1 / "config.json").back(), '\n');  // v1's own config
  const int infos = hub_.info_requests;
  ASSERT_EQ(generate("Org/Stories@v1").status, 0);
  EXPECT_EQ(hub_.info_requests, infos);  // cached: no network

  const testing::RunResult commit = generate("Org/Stories@" + kMain);
  ASSERT_EQ(commit.status, 0) << commit.err;
  EXPECT_EQ(commit.out, want.out);
  EXPECT_TRUE(fs::is_directory(repo_dir() / "snapshots" / kMain));
  EXPECT_FALSE(
      fs::exists(repo_dir() / "refs" / kMain));  // a commit is no ref, as in huggingface_hub
  EXPECT_EQ(resolve_model_dir("Org/Stories@" + kMain), (repo_dir() / "snapshots" / kMain).string());

  const testing::RunResult again = testing::run_cli({"download", "Org/Stories@v1"});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.out, v1.string() + "\n");
  EXPECT_NE(again.err.find("0 downloaded"), std::string::npos) << again.err;
  const testing::RunResult both =
      testing::run_cli({"download", "Org/Stories@v1", "--revision", "v2"});
  EXPECT_NE(both.status, 0);
  EXPECT_NE(both.err.find("give one"), std::string::npos) << both.err;
  EXPECT_NE(error_of([] { resolve_model_dir("Org/Stories@nope"); }).find("refs/nope"),
            std::string::npos);
  EXPECT_NE(error_of([] { resolve_model_dir("Org/Stories@"); }).find("ORG/NAME@REV"),
            std::string::npos);
}

TEST_F(Hub, LocalDir) {
  hub::DownloadOptions o = quick();
  o.local_dir = home_.path() / "local";
  hub::DownloadResult r = hub::download_repo("Org/Stories", o);
  EXPECT_EQ(r.dir, o.local_dir);
  EXPECT_EQ(sha256(slurp(fs::path(o.local_dir) / "model.safetensors")), weights_sha_);
  EXPECT_FALSE(fs::is_symlink(fs::path(o.local_dir) / "model.safetensors"));
  const std::string meta = slurp(fs::path(o.local_dir) / ".cache" / "huggingface" / "download" /
                                 "model.safetensors.metadata");
  EXPECT_EQ(meta.substr(0, 41 + 65), kMain + "\n" + weights_sha_ + "\n");
  EXPECT_FALSE(fs::exists(repo_dir()));  // not through the cache
  r = hub::download_repo("Org/Stories", o);
  EXPECT_EQ(r.downloaded, 0);
}

}  // namespace
}  // namespace purelm
