// Token ids to streamed text for one generated sequence: complete UTF-8 only, and stop strings
// honoured without ever printing a piece of text that a stop string later claims.
#pragma once

#include <string>
#include <vector>

#include "purelm/tokenizer/tokenizer.h"

namespace purelm {

class TextStream {
 public:
  TextStream(const Tokenizer& tok, std::vector<std::string> stop);
  // Returns the text now safe to show. After a stop string appears, stopped() is true and the stop
  // string and anything after it are never returned.
  std::string push(int32_t id);
  std::string finish();  // the held-back rest at the end of generation
  bool stopped() const { return stopped_; }

 private:
  StreamDecoder decoder_;
  std::vector<std::string> stop_;
  std::string pending_;  // decoded text not yet shown: it may still begin a stop string
  bool stopped_ = false;
};

}  // namespace purelm
