// Downloading a model repo from the Hub into the HuggingFace cache (or a folder), as
// huggingface_hub's snapshot_download does: the files a revision has that are missing, a few at
// a time, resumed, retried and verified.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "purelm/hub/retry.h"

namespace purelm::hub {

struct DownloadOptions {
  std::string revision = "main";     // a branch, tag or commit
  std::vector<std::string> include;  // globs; empty: what purelm reads (see patterns.h)
  std::vector<std::string> exclude;
  std::string local_dir;  // empty: the cache
  int max_workers = 4;    // files downloaded at once
  RetryPolicy retry;
  std::FILE* progress = stderr;  // nullptr: silent
};

struct DownloadResult {
  std::string dir;  // the snapshot folder (or the local folder)
  std::string commit;
  int files = 0;       // selected by the patterns
  int downloaded = 0;  // of them, fetched now (the others were there already)
  int64_t bytes = 0;   // received in this run
};

DownloadResult download_repo(const std::string& repo_id, const DownloadOptions& options);

// What --model does first: a repo id (ORG/NAME, or ORG/NAME@REV for a branch, tag or commit)
// missing from the cache (or whose snapshot has no config.json or no weights) is downloaded with
// the default patterns, unless HF_HUB_OFFLINE=1. Folders, ARCH:PRESET specs and cached repos are
// left alone, without any network access.
void ensure_model(const std::string& spec);

}  // namespace purelm::hub
