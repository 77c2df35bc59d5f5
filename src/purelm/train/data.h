// Training data as token streams, and the batches drawn from them.
//
// A split is one long sequence of tokens (documents and conversations back to back) and, for chat
// data, a flag per token saying whether it is a training target (assistant text); plain text
// trains on every token. Batches are random windows, each a pure function of (seed, stream,
// index), so a resumed run draws exactly the batches the uninterrupted run would have.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "purelm/core/tensor.h"
#include "purelm/io/text_file.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm {

struct TokenSplit {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> target;  // per token; empty = every token is a target
  int64_t bytes = 0;            // of the text the tokens encode (plain text only: bits per byte)
  bool is_target(size_t i) const { return target.empty() || target[i]; }
};

struct Dataset {
  TokenSplit train, val;
  bool chat = false;
};

// FILE.jsonl: chat conversations ({"messages": [...]} per line, see chat_data.h); anything else
// is plain text. The last val_fraction is held out: of the text's bytes (cut after a newline), or
// of the conversations.
Dataset load_dataset(const std::string& path, const Tokenizer& tok, double val_fraction);
Dataset text_dataset(const std::string& text, const Tokenizer& tok, double val_fraction);

struct Batch {
  Tensor ids, targets;  // I32 [B, T]; targets -1 where nothing is predicted
  int64_t counted = 0;  // targets that are not -1
};

// B windows of T + 1 tokens (all of the split when it is shorter) at random starts:
// ids = window[0, T), targets[t] = window[t + 1] when that token is a target, else -1. A window
// without any target is redrawn (a few times) so that chat batches are rarely wasted.
Batch sample_batch(const TokenSplit& s, int64_t B, int64_t T, uint64_t seed, uint64_t stream,
                   uint64_t index);

}  // namespace purelm
