// Server-sent events as the HTML standard defines them (what a streamed OpenAI response is): lines
// end in LF, CRLF or CR; a line "field: value" (one space after the colon is dropped) adds to the
// event, a line starting with ':' is a comment, an empty line ends the event. Servers differ in all
// of these (llama-server and purelm serve end lines differently), so a client must take them all.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace purelm::bench {

class SseReader {
 public:
  // Takes the next bytes of the stream, in pieces of any size. For each event that ends in them
  // and has data, calls on(data) (its data lines joined by a newline); stops and returns false as
  // soon as on returns false.
  bool feed(std::string_view bytes, const std::function<bool(const std::string&)>& on);

 private:
  bool end_line(const std::function<bool(const std::string&)>& on);

  std::string line_, data_;
  bool has_data_ = false, after_cr_ = false;
};

}  // namespace purelm::bench
